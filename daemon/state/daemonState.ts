import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from '../protocol/messages.ts';
import type { NamedDestination } from '../protocol/destinations.ts';
import type { ExportRun, Schedule } from '../protocol/exports.ts';

export const STATE_FILE = 'state.json';

/**
 * The daemon's small mutable state, kept with lowdb in `state.json`: settings, the key generation of the
 * master-key mode, and (later) destinations, schedules, export runs and watermarks. Never a secret.
 */
export interface StateData {
  version: 1;
  settings: Settings;
  /** Generation of the keys derived from AI_AUDIT_MASTER_KEY (not secret: the master key is). */
  key_generation: number;
  /** Export destinations (no secrets), schedules with their seq watermarks, and the recent runs. */
  exports?: ExportState;
}

export interface ExportState {
  destinations: NamedDestination[];
  schedules: Schedule[];
  /** Newest last; the oldest go beyond {@link MAX_EXPORT_RUNS}. */
  runs: ExportRun[];
}

/** Export runs kept in state. */
export const MAX_EXPORT_RUNS = 500;

export const DEFAULT_SETTINGS: Settings = { content_mode: 'hash', retention_days: 90 };

export class DaemonState {
  private readonly db: Low<StateData>;

  private constructor(db: Low<StateData>) {
    this.db = db;
  }

  static async open(home: string): Promise<DaemonState> {
    const db = new Low<StateData>(new JSONFile<StateData>(join(home, STATE_FILE)), {
      version: 1,
      settings: { ...DEFAULT_SETTINGS },
      key_generation: 0,
    });
    await db.read();
    // Fill in what an older or hand-edited file lacks, without dropping what it has.
    db.data = { ...db.data, settings: { ...DEFAULT_SETTINGS, ...db.data.settings } };
    await db.write();
    // lowdb writes with the process umask; the data dir is 0700, and the file is 0600 as well.
    await chmod(join(home, STATE_FILE), 0o600).catch(() => undefined);
    return new DaemonState(db);
  }

  get settings(): Settings {
    return this.db.data.settings;
  }

  async updateSettings(change: Partial<Settings>): Promise<Settings> {
    this.db.data.settings = { ...this.db.data.settings, ...change };
    await this.db.write();
    return this.db.data.settings;
  }

  /** Exports' part of the state; change it in place, then {@link saveExports}. */
  get exports(): ExportState {
    this.db.data.exports ??= { destinations: [], schedules: [], runs: [] };
    return this.db.data.exports;
  }

  async saveExports(): Promise<void> {
    const runs = this.exports.runs;
    if (runs.length > MAX_EXPORT_RUNS) runs.splice(0, runs.length - MAX_EXPORT_RUNS);
    await this.db.write();
  }

  /** The master-key store's generation counter. */
  readonly keyGeneration = {
    read: async (): Promise<number> => this.db.data.key_generation,
    write: async (generation: number): Promise<void> => {
      this.db.data.key_generation = generation;
      await this.db.write();
    },
  };
}
