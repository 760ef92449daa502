import { Low } from 'lowdb';
import { join } from 'node:path';
import { z } from 'zod';
import { Settings } from '../protocol/messages.ts';
import { ValidatedJsonFile } from './stateFile.ts';
import { NamedDestination } from '../protocol/destinations.ts';
import type { ExportRun, Schedule } from '../protocol/exports.ts';
import { DestinationRef, ExportName, ScheduleTiming } from '../protocol/exports.ts';

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

/**
 * state.json as read: the protocol's own schemas for what it shares with the protocol (settings), missing
 * values filled in with defaults, wrong ones refused. Unknown top-level keys are kept, so that a newer
 * daemon's additions survive an older one.
 */
const StateFileSchema = z.looseObject({
  version: z.literal(1).default(1),
  settings: Settings.partial().default({}).transform((settings) => ({ ...DEFAULT_SETTINGS, ...settings })),
  key_generation: z.number().int().min(0).default(0),
  // What decides what is exported next (destinations, watermarks) is checked as strictly as the wire checks
  // it; a hand-edited watermark or destination is refused, never acted on.
  exports: z
    .looseObject({
      destinations: z.array(NamedDestination),
      schedules: z.array(
        z.looseObject({
          name: ExportName,
          destination: DestinationRef,
          timing: ScheduleTiming,
          time_zone: z.string().min(1).max(64),
          enabled: z.boolean(),
          watermark_seq: z.number().int().min(0),
        }),
      ),
      runs: z.array(z.looseObject({ id: z.string().min(1), status: z.enum(['running', 'succeeded', 'failed', 'cancelled', 'interrupted']) })),
    })
    // The fields checked above are the ones acted on; the rest is history the daemon only reports.
    .transform((exports) => exports as unknown as ExportState)
    .optional(),
});

export class DaemonState {
  private readonly db: Low<StateData>;

  private constructor(db: Low<StateData>) {
    this.db = db;
  }

  static async open(home: string): Promise<DaemonState> {
    const db = new Low<StateData>(new ValidatedJsonFile<StateData>(join(home, STATE_FILE), StateFileSchema), {
      version: 1,
      settings: { ...DEFAULT_SETTINGS },
      key_generation: 0,
    });
    // Throws a StateFileError naming the file and the field before anything acts on the state.
    await db.read();
    await db.write();
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
