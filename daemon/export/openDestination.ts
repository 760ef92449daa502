import type { DestinationConfig } from '../protocol/destinations.ts';
import { DirDestination } from './destinations/dirDestination.ts';
import { ExportDestinationError, type ExportDestination } from './exportDestination.ts';

/**
 * The one place that turns a configuration into a backend, for the exporter, `destinations test`,
 * `verify-export` and `query --from`. Folders are built here; buckets by the backends' factory.
 */
export async function openDestination(config: DestinationConfig): Promise<ExportDestination> {
  if (config.type === 'dir') return new DirDestination(config);
  throw new ExportDestinationError('invalid_config', `${config.type} destinations are not available in this build`);
}
