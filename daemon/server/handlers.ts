import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Entry, JsonValue } from '../protocol/entry.ts';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import { EVENT_BOUNDS, jsonBoundsProblem } from '../protocol/jsonBounds.ts';
import { PROTOCOL_VERSION, type FlowHealth, type IngestAck, type IngestRejected, type MethodName, type Methods, type ResultOf } from '../protocol/messages.ts';
import { decryptField } from '../keys/contentCipher.ts';
import type { KeyStore } from '../keys/keyMaterial.ts';
import { describeKeyStatus } from '../keys/openKeyStore.ts';
import type { DaemonState } from '../state/daemonState.ts';
import type { AuditStore } from '../store/auditStore.ts';
import { compileFilter } from '../store/entryFilter.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import type { Actor } from '../protocol/entry.ts';
import { SerializedResult } from './serializedResult.ts';
import type { Connection } from './wsServer.ts';
import type { ExportService } from '../export/exportService.ts';
import { checkDestinationSecret, destinationSecretAccount, KeychainDestinationSecrets } from '../export/destinationSecrets.ts';
import { ExportDestinationError } from '../export/exportDestination.ts';

export interface HandlerContext {
  connection: Connection;
  requestId: string | number;
  /** Flow control over all connections, for `health`. */
  flow: () => FlowHealth;
  /** Who asked, as the client named itself: the actor of the `audit.*` entries the request causes. */
  actor: Actor | undefined;
}

/** Methods whose handler may answer with its result serialized already ({@link SerializedResult}). */
type SerializingMethod = 'query';

/** One handler per method, typed by the protocol's method table. */
export type HandlerTable = {
  [M in MethodName]: (
    params: z.output<(typeof Methods)[M]['params']>,
    context: HandlerContext,
  ) => Promise<M extends SerializingMethod ? ResultOf<M> | SerializedResult<ResultOf<M>> : ResultOf<M>>;
};

export interface HandlerDeps {
  store: AuditStore;
  state: DaemonState;
  keyStore: KeyStore;
  keys: () => KeyMaterial;
  setKeys: (keys: KeyMaterial) => void;
  version: string;
  startedAt: number;
  exports: ExportService;
}

const DEFAULT_PAGE = 100;
/** Most `audit.review` entries `entry.detail` reads while looking for the reviews of one entry. */
const MAX_REVIEWS_SCANNED = 5000;

/**
 * Stores the events that keep {@link EVENT_BOUNDS}; the others get `invalid_params` in their slot without
 * reaching schema validation, and the rest of the batch goes in as usual.
 */
async function ingestWithinBounds(store: AuditStore, events: readonly unknown[], sender: object): Promise<Array<IngestAck | IngestRejected>> {
  const problems = events.map((event) => jsonBoundsProblem(event, EVENT_BOUNDS));
  if (problems.every((problem) => problem === null)) return store.ingest(events, sender);
  const accepted = events.filter((_, i) => problems[i] === null);
  const acks = accepted.length > 0 ? await store.ingest(accepted, sender) : [];
  let next = 0;
  return problems.map((problem): IngestAck | IngestRejected => {
    if (problem === null) return acks[next++] as IngestAck | IngestRejected;
    return {
      error: {
        code: ErrorCodes.InvalidParams,
        message: `invalid event: ${problem.path || '(event)'}: ${problem.message}`,
        data: { issues: [problem] },
      },
    };
  });
}

/**
 * A keychain call of `credentials.*` with its ExportDestinationError as `destination_error` (reason
 * `invalid_config` or `credentials_missing`). Those messages name fields and the ref, never a value.
 */
async function keychainRequest<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error: unknown) {
    if (error instanceof ExportDestinationError) {
      throw new AuditError(ErrorCodes.DestinationError, error.message, { reason: error.code, retryable: error.retryable });
    }
    throw error;
  }
}

export function createHandlers(deps: HandlerDeps): HandlerTable {
  const { store, state } = deps;
  // The daemon's own keychain: scheduled exports run without the editor (docs/decisions.md).
  const secrets = new KeychainDestinationSecrets();
  const subscriptions = new Map<string, { connection: number; dispose: () => void }>();
  return {
    // The connection is the sender that group commit waits for (see AuditStore.gather).
    ingest: async ({ events }, { connection }) => ({ acks: await ingestWithinBounds(store, events, connection) }),

    query: async ({ filter, limit, cursor }) => {
      const page = await store.query(filter, limit ?? DEFAULT_PAGE, cursor);
      // The stored lines of the entries, as they are: the same JSON values, without serializing them again.
      return new SerializedResult(`{"entries":[${page.lines.join(',')}],"next_cursor":${JSON.stringify(page.next_cursor)}}`);
    },

    get: async (target) => ({ entry: await store.get(target) }),

    'tail.subscribe': async ({ filter }, { connection }) => {
      const compiled = compileFilter(filter);
      const subscription = randomUUID();
      const listener = store.onEntries((entries) => {
        const matching = entries.filter((e) => compiled.matches(e));
        if (matching.length > 0) connection.notify('tail.entries', { subscription, entries: matching });
      });
      subscriptions.set(subscription, { connection: connection.id, dispose: () => listener.dispose() });
      connection.onClose(() => {
        listener.dispose();
        subscriptions.delete(subscription);
      });
      return { subscription };
    },

    'tail.unsubscribe': async ({ subscription }, { connection }) => {
      const held = subscriptions.get(subscription);
      if (held === undefined || held.connection !== connection.id) {
        throw new AuditError(ErrorCodes.UnknownSubscription, `this connection holds no subscription ${subscription}`);
      }
      held.dispose();
      subscriptions.delete(subscription);
      return { ok: true };
    },

    stats: async ({ filter, top, by }) => store.stats(filter, top ?? 10, by),

    verify: async ({ from_seq, to_seq, expect }, { connection, requestId }) => {
      const range: { fromSeq?: number; toSeq?: number; expect?: { seq: number; hash: string } } = {};
      if (from_seq !== undefined) range.fromSeq = from_seq;
      if (to_seq !== undefined) range.toSeq = to_seq;
      if (expect !== undefined) range.expect = expect;
      return store.verify(range, (entries_checked, last_seq) =>
        connection.notify('verify.progress', { request: requestId, entries_checked, last_seq }),
      );
    },

    'retention.run': async ({ older_than_days, force }, { actor }) =>
      store.runRetention(older_than_days ?? state.settings.retention_days, {
        recordWhenNothingDropped: true,
        ...(actor === undefined ? {} : { actor }),
        ...(force === true ? {} : { keepFromSeq: () => deps.exports.retentionFloor() }),
      }),

    'keys.status': async () => describeKeyStatus(deps.keys()),

    'keys.rotate': async (_params, { actor }) => {
      const before = describeKeyStatus(deps.keys());
      const rotated = await deps.keyStore.rotate();
      deps.setKeys(rotated);
      const after = describeKeyStatus(rotated);
      await store.appendAudit('audit.keys.rotate', {
        hmac_key_id: { from: before.hmac_key_id, to: after.hmac_key_id },
        encryption_key_id: { from: before.encryption_key_id, to: after.encryption_key_id },
        signing_key_id: { from: before.signing_key_id, to: after.signing_key_id },
      }, actor);
      // Sign the chain's end with the new key right away.
      await store.writeCheckpoint();
      return after;
    },

    decrypt: async (params, { actor }) => {
      const target = 'seq' in params && params.seq !== undefined ? { seq: params.seq } : { id: String((params as { id: string }).id) };
      const entry = await store.get(target);
      if (entry.content.mode !== 'encrypted' || (entry.content.input_enc === undefined && entry.content.output_enc === undefined)) {
        throw new AuditError(ErrorCodes.NotEncrypted, `entry ${entry.seq} keeps its content in ${entry.content.mode} mode: there is nothing to decrypt`);
      }
      // The attempt is on the record before any plaintext leaves the daemon, whether or not it succeeds.
      const audit = await store.appendAudit('audit.decrypt', {
        target_seq: entry.seq,
        target_id: entry.id,
        reason: params.reason ?? null,
      }, actor);
      const key = deps.keys().encryptionKeys.get(entry.content.key_id ?? '');
      if (key === undefined) {
        throw new AuditError(ErrorCodes.DecryptFailed, `the key ${entry.content.key_id ?? '(none)'} of entry ${entry.seq} is not in this store's keychain`);
      }
      const result: ResultOf<'decrypt'> = { seq: entry.seq, audit_seq: audit.seq };
      if (entry.content.input_enc !== undefined) result.input = decryptField(key, entry.content.input_enc, `${entry.id}:input`);
      if (entry.content.output_enc !== undefined) result.output = decryptField(key, entry.content.output_enc, `${entry.id}:output`);
      return result;
    },

    'settings.get': async () => state.settings,

    'settings.set': async (change, { actor }) => {
      const before = state.settings;
      const changed: Record<string, { from: string | number; to: string | number }> = {};
      if (change.content_mode !== undefined && change.content_mode !== before.content_mode) {
        changed.content_mode = { from: before.content_mode, to: change.content_mode };
      }
      if (change.retention_days !== undefined && change.retention_days !== before.retention_days) {
        changed.retention_days = { from: before.retention_days, to: change.retention_days };
      }
      if (Object.keys(changed).length === 0) return before;
      // On the record first: a change that could not be recorded is not made.
      await store.appendAudit('audit.settings', { changed }, actor);
      return state.updateSettings(change);
    },

    'entry.detail': async ({ seq }) => {
      const entry = await store.get({ seq });
      // Reviews come after the entry they review: only audit.review entries recorded since then are read.
      const reviews: Entry[] = [];
      let cursor: string | undefined;
      let scanned = 0;
      do {
        const page = await store.query({ kind: 'audit.review', since: entry.recorded_at }, 500, cursor);
        scanned += page.entries.length;
        for (const review of page.entries) if (review.audit?.target_seq === seq) reviews.push(review);
        cursor = page.next_cursor ?? undefined;
      } while (cursor !== undefined && scanned < MAX_REVIEWS_SCANNED);
      return { entry, checkpoint: await store.checkpointCovering(seq), reviews };
    },

    'review.add': async ({ seq, reviewer, verdict, note }) => {
      const target = await store.get({ seq });
      const ack = await store.appendAudit('audit.review', { target_seq: target.seq, target_id: target.id, reviewer, verdict, note }, { user_id: reviewer });
      return { audit_seq: ack.seq };
    },

    'access.record': async ({ viewer, since, until, opened, filters, entries }) => {
      const ack = await store.appendAudit('audit.access', { viewer, since, until, opened, filters: filters as JsonValue, entries }, { user_id: viewer });
      return { audit_seq: ack.seq };
    },

    'destinations.add': async ({ name, config, replace }) => deps.exports.addDestination({ name, config }, replace === true),
    'destinations.list': async () => ({ destinations: deps.exports.listDestinations() }),
    'destinations.remove': async ({ name }) => {
      await deps.exports.removeDestination(name);
      return { ok: true };
    },
    'credentials.set': async ({ ref, kind, values }, { actor }) => {
      // Checked before it goes on the record, so that an entry stands for keys that were valid.
      const secret = await keychainRequest(async () => {
        destinationSecretAccount(ref);
        return checkDestinationSecret({ ...values, kind });
      });
      // On the record first, naming the ref and kind only: a change that could not be recorded is not made.
      const ack = await store.appendAudit('audit.credentials', { action: 'set', ref, kind }, actor);
      await keychainRequest(() => secrets.store(ref, secret));
      return { ok: true, audit_seq: ack.seq };
    },
    'credentials.remove': async ({ ref }, { actor }) => {
      await keychainRequest(async () => destinationSecretAccount(ref));
      const ack = await store.appendAudit('audit.credentials', { action: 'remove', ref }, actor);
      const removed = await keychainRequest(() => secrets.remove(ref));
      return { removed, audit_seq: ack.seq };
    },
    'destinations.test': async (params) => deps.exports.testDestination('name' in params ? params.name : params.config),

    'export.run': async (params, { connection }) =>
      deps.exports.runOnce(params, (progress) => connection.notify('export.progress', progress)),
    'export.runs': async ({ schedule, limit }) => ({ runs: deps.exports.runs(schedule, limit ?? 50) }),
    'export.cancel': async ({ run_id }) => {
      deps.exports.cancel(run_id);
      return { ok: true };
    },

    'schedules.add': async (params) => deps.exports.addSchedule(params),
    'schedules.list': async () => ({ schedules: deps.exports.listSchedules() }),
    'schedules.edit': async ({ name, ...change }) => deps.exports.editSchedule(name, change),
    'schedules.enable': async ({ name }) => deps.exports.setEnabled(name, true),
    'schedules.disable': async ({ name }) => deps.exports.setEnabled(name, false),
    'schedules.run': async ({ name }, { connection }) => deps.exports.runSchedule(name, (progress) => connection.notify('export.progress', progress)),
    'schedules.remove': async ({ name }) => {
      await deps.exports.removeSchedule(name);
      return { ok: true };
    },

    health: async (_params, { flow }) => ({
      version: deps.version,
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
      uptime_s: Math.round((Date.now() - deps.startedAt) / 1000),
      entries: store.entryCount,
      segments: store.segmentCount,
      first_seq: store.firstSeq,
      last_seq: store.lastSeq,
      last_hash: store.lastHash,
      store_bytes: store.storeBytes,
      disk_full: store.diskFull,
      queue_depth: store.queueDepth,
      key_source: deps.keys().source,
      settings: state.settings,
      flow: flow(),
      ...(store.readOnly === null ? {} : { read_only: store.readOnly }),
    }),

    'checkpoints.latest': async () => store.latestCheckpoint(),

    'witness.report': async ({ remembered, observed, reason, witness }, { actor }) => {
      // The witness names itself in the entry; the actor is the client that carried the report.
      const ack = await store.appendAudit('audit.witness', { remembered, observed, reason, witness }, actor, 'error');
      return { seq: ack.seq };
    },
  };
}
