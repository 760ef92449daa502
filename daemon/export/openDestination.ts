import type { DestinationConfig } from '../protocol/destinations.ts';
import { KeychainDestinationSecrets } from './destinationSecrets.ts';
import { createDestination } from './destinations/createDestination.ts';
import { DirDestination } from './destinations/dirDestination.ts';
import type { ExportDestination } from './exportDestination.ts';

/**
 * The one place that turns a configuration into a backend, for the exporter, `destinations test`,
 * `verify-export` and `query --from`. Folders are built here; buckets by the backends' factory.
 */
export async function openDestination(config: DestinationConfig): Promise<ExportDestination> {
  if (config.type === 'dir') return new DirDestination(config);
  return createDestination(config, new KeychainDestinationSecrets());
}
