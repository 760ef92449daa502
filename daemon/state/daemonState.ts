import { Low } from 'lowdb';
import { join } from 'node:path';
import { z } from 'zod';
import { Settings } from '../protocol/messages.ts';
import { ValidatedJsonFile } from './stateFile.ts';

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
}

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

  /** The master-key store's generation counter. */
  readonly keyGeneration = {
    read: async (): Promise<number> => this.db.data.key_generation,
    write: async (generation: number): Promise<void> => {
      this.db.data.key_generation = generation;
      await this.db.write();
    },
  };
}
