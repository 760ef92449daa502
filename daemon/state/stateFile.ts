import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Adapter } from 'lowdb';
import type { z } from 'zod';

/** Why state.json cannot be used: not JSON, or a value its schema refuses. */
export type StateFileErrorCode = 'state_unparseable' | 'state_invalid';

/**
 * state.json is unusable. The daemon does not start (and so acts on nothing in it) until a person fixes
 * the file: a bad value there (retention of -5 days) must never be obeyed.
 */
export class StateFileError extends Error {
  readonly code: StateFileErrorCode;
  readonly path: string;
  /** Dotted path of the first refused field (`settings.retention_days`), or null when the file is not JSON. */
  readonly field: string | null;

  constructor(code: StateFileErrorCode, path: string, field: string | null, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateFileError';
    this.code = code;
    this.path = path;
    this.field = field;
  }
}

/**
 * A lowdb adapter for a small JSON state file that validates what it reads with a zod schema and writes
 * atomically with mode 0600 from the very first byte: a temporary file created 0600, fsync'ed, renamed
 * over the old one, then the directory fsync'ed. (lowdb's own JSONFile creates files with the process
 * umask, typically 0644, and each of its writes is a new file.)
 */
export class ValidatedJsonFile<T> implements Adapter<T> {
  private readonly path: string;
  private readonly schema: z.ZodType<T>;
  private writing: Promise<void> = Promise.resolve();

  constructor(path: string, schema: z.ZodType<T>) {
    this.path = path;
    this.schema = schema;
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error: unknown) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error: unknown) {
      throw new StateFileError('state_unparseable', this.path, null, `${this.path} is not valid JSON (${error instanceof Error ? error.message : String(error)}): fix or restore the file, then start the daemon again`, { cause: error });
    }
    const parsed = this.schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.') ?? '';
      throw new StateFileError(
        'state_invalid',
        this.path,
        field,
        `${this.path}: ${field || '(the whole file)'}: ${issue?.message ?? 'invalid'}. Nothing was done with this file: correct the value, then start the daemon again`,
      );
    }
    return parsed.data;
  }

  write(data: T): Promise<void> {
    const next = this.writing.then(() => this.writeNow(data));
    // A failed write fails its caller; the next write still runs.
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeNow(data: T): Promise<void> {
    const temporary = `${this.path}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      // An existing temporary file keeps its mode on open: make sure of it.
      await handle.chmod(0o600);
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.path);
    await syncDirectory(dirname(this.path));
  }
}

/** Makes a rename durable. Windows cannot open a directory for fsync; there the rename is what it is. */
async function syncDirectory(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
