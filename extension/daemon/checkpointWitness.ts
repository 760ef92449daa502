import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { AuditError, ErrorCodes } from '../../daemon/protocol/errors.ts';
import type { ParamsOf, SignedCheckpoint } from '../../daemon/protocol/messages.ts';

/** What the witness keeps across sessions (a VS Code `Memento`, e.g. `context.globalState`). */
export interface WitnessMemory {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void>;
}

export interface RememberedCheckpoint {
  seq: number;
  hash: string;
  ts: string;
}

export interface WitnessOptions {
  /** Keyed by data dir: one extension may see several stores over time. */
  home: string;
  memory: WitnessMemory;
  /** Shows the alarm to the user (a warning notification). */
  warn: (message: string) => void;
  log: (message: string) => void;
  /** Who reports (recorded as the entry's `actor.user_id`). */
  witness?: string;
  /** How often a connected witness looks again (ms); default 5 minutes, so it keeps up with new checkpoints. */
  recheckMs?: number;
}

type Report = ParamsOf<'witness.report'>;

/**
 * A witness outside the data dir: whoever can write the data dir can cut off the newest entries together
 * with their checkpoints, and no local file reveals it. The extension remembers the newest signed checkpoint
 * it has seen; when the store's end later lies before it, the entry at its seq has another hash, or that
 * entry is gone without a signed retention anchor at or past it, it raises an alarm (a warning, and an `audit.witness` entry with decision `error`, sent on the next connect
 * if the daemon cannot take it now). docs/entry.md §7.5.
 */
export class CheckpointWitness {
  private readonly options: WitnessOptions;
  private readonly rememberKey: string;
  private readonly pendingKey: string;
  private readonly anchorKey: string;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: WitnessOptions) {
    this.options = options;
    this.rememberKey = `aiAuditTrail.witness.checkpoint:${options.home}`;
    this.pendingKey = `aiAuditTrail.witness.pending:${options.home}`;
    this.anchorKey = `aiAuditTrail.witness.anchor:${options.home}`;
  }

  get remembered(): RememberedCheckpoint | undefined {
    return this.options.memory.get<RememberedCheckpoint>(this.rememberKey);
  }

  /**
   * Compares the daemon's newest checkpoint with the remembered one; then remembers the newer. Looks again
   * every `recheckMs` while this client stays connected.
   */
  async check(client: DaemonClient): Promise<void> {
    this.schedule(client);
    await this.sendPending(client);
    const latest = await client.request('checkpoints.latest', {});
    const remembered = this.remembered;
    const current = latest.checkpoint?.type === 'checkpoint' || latest.checkpoint?.type === 'repair' ? latest.checkpoint : null;
    const anchor = latest.checkpoint?.type === 'anchor' ? latest.checkpoint : null;
    if (remembered !== undefined) {
      const report = await this.compare(client, remembered, latest.last_seq, current, anchor);
      if (report !== null) {
        await this.alarm(client, report);
        return; // The remembered checkpoint stays: the store must reach past it again.
      }
    }
    if (current !== null && (remembered === undefined || current.seq > remembered.seq)) {
      await this.options.memory.update(this.rememberKey, { seq: current.seq, hash: current.hash, ts: current.ts } satisfies RememberedCheckpoint);
    }
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(client: DaemonClient): void {
    this.dispose();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (client.closed) return;
      this.check(client).catch((error: unknown) => this.options.log(`checkpoint witness: ${error instanceof Error ? error.message : String(error)}`));
    }, this.options.recheckMs ?? 300_000);
    this.timer.unref();
  }

  private async compare(
    client: DaemonClient,
    remembered: RememberedCheckpoint,
    lastSeq: number,
    current: { seq: number; hash: string } | null,
    anchor: SignedCheckpoint | null,
  ): Promise<Report | null> {
    let hashThere: string | null = null;
    let unexplained: string | null = null;
    if (lastSeq >= remembered.seq) {
      try {
        hashThere = (await client.request('get', { seq: remembered.seq })).entry.hash;
      } catch (error: unknown) {
        if (!(error instanceof AuditError && error.code === ErrorCodes.NotFound)) throw error;
        unexplained = await this.retentionProblem(client, remembered, anchor);
      }
    }
    const observed: Report['observed'] = {
      checkpoint_seq: current?.seq ?? null,
      checkpoint_hash: current?.hash ?? null,
      last_seq: lastSeq,
      hash_at_remembered_seq: hashThere,
    };
    let reason: string | null = null;
    if (lastSeq < remembered.seq) {
      reason = `the audit store now ends at seq ${lastSeq}, but seq ${remembered.seq} was signed on ${remembered.ts}: its newest entries were removed`;
    } else if (current !== null && current.seq < remembered.seq) {
      reason = `the newest signed checkpoint is at seq ${current.seq}, but one at seq ${remembered.seq} was seen on ${remembered.ts}: checkpoints were removed`;
    } else if (hashThere !== null && hashThere !== remembered.hash) {
      reason = `entry ${remembered.seq} now has another hash than the one signed on ${remembered.ts}: the chain was rewritten`;
    } else if (unexplained !== null) {
      reason = `entry ${remembered.seq}, signed on ${remembered.ts}, is gone and no signed retention anchor covers it (${unexplained})`;
    }
    if (reason === null) return null;
    return { remembered, observed, reason, witness: this.options.witness ?? 'vscode-extension' };
  }

  /**
   * Entry `remembered.seq` is gone: only a signed retention anchor at or past it explains that. Whoever
   * deletes entries can also write an unsigned `audit.retention` entry or leave the daemon's own ones, so
   * the witness asks `verify` with `expect`, which checks the signatures of checkpoints.jsonl and accepts a
   * missing seq only under the newest anchor (protocol.md, `verify`). Null when covered; else why not.
   * A verify reads the whole store, and its answer holds while the newest signed record is the same anchor:
   * that anchor is remembered after a passing verify, so the checks until the next checkpoint skip it.
   */
  private async retentionProblem(client: DaemonClient, remembered: RememberedCheckpoint, anchor: SignedCheckpoint | null): Promise<string | null> {
    // The remembered checkpoint and the anchor's signed record (its signature tells one record from another).
    const covering = anchor !== null && anchor.seq >= remembered.seq ? `${remembered.seq}:${remembered.hash} ${anchor.seq}:${anchor.hash}:${anchor.sig}` : null;
    if (covering !== null && this.options.memory.get<string>(this.anchorKey) === covering) return null;
    const report = await client.request('verify', { expect: { seq: remembered.seq, hash: remembered.hash } });
    if (!report.ok) return report.problem === null ? 'verify failed' : `verify: ${report.problem.code}`;
    if (covering !== null) await this.options.memory.update(this.anchorKey, covering);
    return null;
  }

  private async alarm(client: DaemonClient, report: Report): Promise<void> {
    // One alarm per remembered checkpoint, not one per reconnect.
    const alarmedKey = `aiAuditTrail.witness.alarmed:${this.options.home}`;
    const finding = `${report.remembered.seq}:${report.remembered.hash}`;
    if (this.options.memory.get<string>(alarmedKey) === finding) return;
    await this.options.memory.update(alarmedKey, finding);
    this.options.warn(`AI Audit Trail: the audit store went backwards. ${report.reason}. Run "ai-audit verify" and compare with your exports.`);
    this.options.log(`witness alarm: ${report.reason}`);
    await this.options.memory.update(this.pendingKey, report);
    await this.sendPending(client);
  }

  /** Sends a recorded alarm as an `audit.witness` entry; kept for the next connect when that fails. */
  private async sendPending(client: DaemonClient): Promise<void> {
    const pending = this.options.memory.get<Report>(this.pendingKey);
    if (pending === undefined) return;
    try {
      const { seq } = await client.request('witness.report', pending);
      await this.options.memory.update(this.pendingKey, undefined);
      this.options.log(`witness alarm recorded as entry ${seq}`);
    } catch (error: unknown) {
      this.options.log(`witness alarm not recorded yet (retried on the next connect): ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
