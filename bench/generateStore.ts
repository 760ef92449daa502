// Fills a data dir with `count` entries through the store's own writer (AuditStore, in this process),
// spread evenly over the last `days` days by a test clock, with the keys a daemon started with the same
// AI_AUDIT_MASTER_KEY loads. Not a million round trips: batches go straight into group commits.
import { openKeyStore } from '../daemon/keys/openKeyStore.ts';
import { ensureDataDir } from '../daemon/dataDir.ts';
import { DaemonState } from '../daemon/state/daemonState.ts';
import { AuditStore } from '../daemon/store/auditStore.ts';

const DAY_MS = 86_400_000;

export async function generateStore(home: string, env: NodeJS.ProcessEnv, count: number, days: number, endMs: number): Promise<void> {
  await ensureDataDir(home);
  const state = await DaemonState.open(home);
  const keys = await openKeyStore({ home, env, generation: state.keyGeneration }).load();
  const startMs = endMs - days * DAY_MS;
  let clock = startMs;
  const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock });
  // About four batches a day, so every day has entries and its own segment.
  const batches = Math.max(1, Math.min(count, days * 4));
  const per = Math.ceil(count / batches);
  for (let from = 0, b = 0; from < count; from += per, b++) {
    clock = startMs + Math.floor(((b + 0.5) / batches) * days * DAY_MS);
    const ts = new Date(clock).toISOString();
    const events = [];
    for (let i = from; i < Math.min(count, from + per); i++) {
      events.push({
        kind: 'chat.input',
        ts,
        input: `prompt ${i}`,
        provider: 'openai',
        model: 'gpt-4o',
        actor: { user_id: `u${i % 50}`, session_id: `s${i % 500}` },
        decision: i % 20 === 0 ? 'blocked' : 'allowed',
      });
    }
    const acks = await store.ingest(events);
    const failed = acks.find((a) => 'error' in a);
    if (failed !== undefined) throw new Error(`generating the store failed: ${JSON.stringify(failed)}`);
  }
  clock = endMs;
  await store.close();
}
