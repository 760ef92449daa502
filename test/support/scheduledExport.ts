import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from './daemonProcess.ts';
import { exportedKeys } from './exportFiles.ts';
import { tempDir } from './tempDir.ts';

/** A real daemon whose `nightly` schedule ran into `<out>/intact`: a signed chain of one manifest per run. */
export interface ScheduledExport {
  home: string;
  /** A scratch folder for copies of the export; `intact` lies inside it. */
  out: string;
  intact: string;
  daemon: DaemonProcess;
  /** The manifests' keys under `intact`, oldest first. */
  manifestKeys: string[];
  dispose(): Promise<void>;
}

/** Runs the schedule once per element of `batches` (JSON lines ingested before each run), with the CLI as a user would. */
export async function scheduledExport(prefix: string, env: NodeJS.ProcessEnv, batches: string[]): Promise<ScheduledExport> {
  const home = await tempDir(prefix);
  const out = await tempDir(`${prefix}-out`);
  const intact = join(out.path, 'intact');
  const daemon = await startDaemonProcess(home.path, env);
  const dispose = async (): Promise<void> => {
    await daemon.stop();
    await home.dispose();
    await out.dispose();
  };
  try {
    const cli = (args: string[], input?: string) => runCliProcess(args, input === undefined ? { env } : { env, input });
    const h = ['--home', home.path];
    assert.equal((await cli(['schedules', 'add', 'nightly', '--to', intact, '--every', 'day', '--at', '02:00', ...h])).code, 0);
    for (const events of batches) {
      assert.equal((await cli(['ingest', '-', ...h], events)).code, 0);
      const result = await cli(['schedules', 'run', 'nightly', ...h]);
      assert.equal(result.code, 0, result.stderr);
    }
    const manifestKeys = (await exportedKeys(intact)).filter((k) => k.endsWith('.manifest.json'));
    return { home: home.path, out: out.path, intact, daemon, manifestKeys, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
