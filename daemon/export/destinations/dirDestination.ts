import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { DestinationProbe } from '../../protocol/destinations.ts';
import { sha256OfStream } from '../streamDigest.ts';
import { ExportDestinationError, type ExportDestination, type ObjectBody, type ObjectInfo, type PutResult } from '../exportDestination.ts';
import { fileNameOfKey, keyOfFileName } from './folderNames.ts';

/** Temporary files of unfinished writes end with this; `list` skips them. */
const PARTIAL_SUFFIX = '.partial';
const PROBE_PREFIX = '.ai-audit-probe-';

/**
 * A local or mounted folder as an export destination. Objects are written to a temporary file, fsync'ed,
 * then hard-linked to their key: `link` fails when the key exists, so an object is never overwritten and a
 * reader never sees half of one. File names are the keys mapped by folderNames.ts (no `:` and other
 * characters Windows refuses); `list` maps them back, so callers only ever see keys.
 */
export class DirDestination implements ExportDestination {
  readonly location: string;
  private readonly root: string;

  constructor(config: { path: string; prefix: string }) {
    this.root = resolve(config.path, config.prefix);
    this.location = this.root;
  }

  private pathOf(key: string): string {
    return this.inside(key, resolve(this.root, fileNameOfKey(key)));
  }

  /** Where a key was written before names were mapped (the key as is), when that differs. */
  private legacyPathOf(key: string): string | null {
    const mapped = fileNameOfKey(key);
    return mapped === key ? null : this.inside(key, resolve(this.root, key));
  }

  private inside(key: string, path: string): string {
    if (path !== this.root && !path.startsWith(this.root + sep)) {
      throw new ExportDestinationError('invalid_config', `the key ${JSON.stringify(key)} leaves the export folder`);
    }
    return path;
  }

  async putObject(key: string, body: ObjectBody, signal?: AbortSignal): Promise<PutResult> {
    signal?.throwIfAborted();
    const target = this.pathOf(key);
    // A run resumed after an upgrade finds the objects it wrote under the unmapped name.
    const legacy = this.legacyPathOf(key);
    if (legacy !== null && (await exists(legacy))) {
      if (await sameContent(legacy, body)) return { key, existed: true };
      throw new ExportDestinationError('object_exists', `${key} exists in ${this.location} with other content: it is never overwritten`);
    }
    await mkdir(dirname(target), { recursive: true }).catch((error: unknown) => {
      throw fsError(error, target);
    });
    const partial = `${target}.${randomBytes(6).toString('hex')}${PARTIAL_SUFFIX}`;
    try {
      const handle = await open(partial, 'wx', 0o644);
      try {
        for await (const chunk of body.open()) {
          signal?.throwIfAborted();
          await handle.write(chunk as Buffer);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await link(partial, target);
        return { key, existed: false };
      } catch (error: unknown) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (await sameContent(target, body)) return { key, existed: true };
      throw new ExportDestinationError('object_exists', `${key} exists in ${this.location} with other content: it is never overwritten`);
    } catch (error: unknown) {
      if (error instanceof ExportDestinationError) throw error;
      if ((error as Error).name === 'AbortError') throw new ExportDestinationError('cancelled', 'the write was cancelled');
      throw fsError(error, target);
    } finally {
      await unlink(partial).catch(() => undefined);
    }
  }

  async getObject(key: string): Promise<Readable> {
    const legacy = this.legacyPathOf(key);
    const path = legacy !== null && !(await exists(this.pathOf(key))) && (await exists(legacy)) ? legacy : this.pathOf(key);
    try {
      await stat(path);
    } catch (error: unknown) {
      throw fsError(error, path);
    }
    return createReadStream(path);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const found: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error: unknown) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw fsError(error, dir);
      }
      for (const name of names) {
        const path = join(dir, name);
        const info = await stat(path);
        if (info.isDirectory()) await walk(path);
        else if (info.isFile() && !name.endsWith(PARTIAL_SUFFIX)) {
          const key = keyOfFileName(relative(this.root, path).split(sep).join('/'));
          if (key.startsWith(prefix)) found.push({ key, size: info.size });
        }
      }
    };
    await walk(this.root);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async probe(): Promise<DestinationProbe> {
    const key = `${PROBE_PREFIX}${Date.now()}-${randomBytes(4).toString('hex')}`;
    const bytes = Buffer.from('ai-audit-trail probe\n');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const detail: string[] = [];
    const result: DestinationProbe = { write: false, read: null, delete: null, key, detail };
    try {
      await this.putObject(key, { open: () => Readable.from([bytes]), size: bytes.length, sha256, contentType: 'application/json' });
      result.write = true;
      detail.push(`wrote ${key}`);
    } catch (error: unknown) {
      detail.push(`cannot write: ${(error as Error).message}`);
      return result;
    }
    try {
      result.read = (await readFile(this.pathOf(key))).equals(bytes);
      detail.push(result.read ? 'read it back' : 'read back other bytes');
    } catch (error: unknown) {
      result.read = false;
      detail.push(`cannot read: ${(error as Error).message}`);
    }
    try {
      await unlink(this.pathOf(key));
      result.delete = true;
      detail.push('deleted it');
    } catch (error: unknown) {
      result.delete = false;
      detail.push(`cannot delete: ${(error as Error).message}`);
    }
    return result;
  }

  async dispose(): Promise<void> {
    // Nothing held open between calls.
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function sameContent(path: string, body: ObjectBody): Promise<boolean> {
  const info = await stat(path);
  if (info.size !== body.size) return false;
  return (await sha256OfStream(createReadStream(path))) === body.sha256;
}

function fsError(error: unknown, path: string): ExportDestinationError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ExportDestinationError('not_found', `${path} does not exist`, { cause: error });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new ExportDestinationError('access_denied', `no permission to write ${path}: check the folder's owner and mode`, { cause: error });
  }
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ExportDestinationError('server_error', `the disk of ${path} is full`, { cause: error, retryable: true });
  return new ExportDestinationError('server_error', `${path}: ${code ?? String(error)}`, { cause: error });
}
