import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import vm from 'node:vm';

/**
 * Runs a CommonJS bundle through `vm.Script` with V8's code cache, so that a start compiles nothing V8 has
 * already compiled for the same bytes (Node 20 has no module compile cache; docs/decisions.md, "Performance:
 * start-up, session 5").
 *
 * A code cache is code: V8 checks only the length of the source, its own version and its flags before it runs
 * the bytecode in a cache. So a cache is used only when
 * - it lies where the caller says (beside the bundle, in the same folder), is a regular file (not a link)
 *   owned by the bundle's owner and writable by no one else (on POSIX): whoever could write it could replace
 *   the bundle itself, so it gives no one a way to run code they could not run before;
 * - its header names the SHA-256 of exactly these bundle bytes: a cache of another build (an upgrade, a
 *   rebuild of the same length) is never handed to V8;
 * - its header holds the SHA-256 of the rest: V8 does not check its data in release builds, and a damaged
 *   cache (a bad disk, a cut write) would run damaged code or crash.
 * V8 then rejects a cache of another V8 version or other flags (`cachedDataRejected`); any other outcome than
 * `accepted` compiles from the source, as without a cache, and the caller may write a new one.
 */
export type CodeCacheStatus = 'accepted' | 'missing' | 'stale' | 'damaged' | 'untrusted' | 'rejected' | 'unreadable';

export interface CachedBundle {
  status: CodeCacheStatus;
  /** Writes the cache of what V8 has compiled so far (after a start: the functions the start ran). */
  save(): boolean;
}

/** The first bytes of a cache file: format and version of this header. */
const MAGIC = Buffer.from('AIAUDV8\u0002', 'latin1');
/** Format, SHA-256 of the bundle, SHA-256 of V8's data that follows. */
const HEADER = MAGIC.length + 64;
/** A cache is about as large as the bundle's compiled part (0.6–0.7 MB for the CLI): anything this large is not one. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;

/** The file name for the cache of `bundlePath` made by this V8 for `mode` (runtimes and flags keep their own). */
export function codeCachePath(bundlePath: string, mode: string): string {
  const v8 = process.versions.v8.replace(/[^\w.-]/g, '_');
  return `${bundlePath}.${mode}-${v8}-${process.arch}.v8cache`;
}

/**
 * Compiles and runs the CommonJS bundle at `bundlePath` in this context, with `cachePath` as its code cache
 * when that one can be trusted (see above). Exceptions of the bundle's top level propagate as they would from
 * `require`.
 */
export function runCachedBundle(bundlePath: string, cachePath: string, options: { afterCompile?: () => void } = {}): CachedBundle {
  const bytes = readFileSync(bundlePath);
  const digest = sha256(bytes);
  const found = readCache(cachePath, statSync(bundlePath).uid, digest);
  // Parenthesized: V8 compiles an immediately used function eagerly instead of pre-parsing it first.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${bytes.toString('utf8')}\n})`;
  // No `importModuleDynamically`: a script compiled from a cache loses it on Node 20, so the bundle may hold no
  // `import()` (scripts/build.mjs turns them into `require`).
  const script = new vm.Script(wrapped, { filename: bundlePath, ...(found.data !== undefined && { cachedData: found.data }) });
  const status: CodeCacheStatus = found.data === undefined ? found.status : script.cachedDataRejected === true ? 'rejected' : 'accepted';
  options.afterCompile?.();
  const module = { exports: {} };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  const save = (): boolean => writeCache(cachePath, digest, script);
  run.call(module.exports, module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath));
  return { status, save };
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function readCache(path: string, ownerUid: number, digest: Buffer): { status: CodeCacheStatus; data?: Buffer } {
  let fd: number;
  try {
    // O_NOFOLLOW: a link is refused rather than followed to whatever it names (no such flag on Windows).
    // O_NONBLOCK: a FIFO in the cache's place would otherwise block the open (and the start) until some
    // process opened it for writing; it is then refused as not a regular file. Regular files ignore the flag.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    return { status: code === 'ENOENT' ? 'missing' : code === 'ELOOP' ? 'untrusted' : 'unreadable' };
  }
  try {
    const stat = fstatSync(fd);
    // Not a regular file, or far larger than any cache (~0.7 MB): never read into memory whole.
    if (!stat.isFile() || stat.size > MAX_CACHE_BYTES) return { status: 'untrusted' };
    // On Windows the folder's ACL (the user's extension or install folder) is what guards both files.
    if (process.platform !== 'win32' && (stat.uid !== ownerUid || (stat.mode & 0o022) !== 0)) return { status: 'untrusted' };
    const data = readFileSync(fd);
    if (data.length <= HEADER || !data.subarray(0, MAGIC.length).equals(MAGIC) || !data.subarray(MAGIC.length, MAGIC.length + 32).equals(digest)) return { status: 'stale' };
    const payload = data.subarray(HEADER);
    if (!sha256(payload).equals(data.subarray(MAGIC.length + 32, HEADER))) return { status: 'damaged' };
    return { status: 'accepted', data: payload };
  } catch {
    return { status: 'unreadable' };
  } finally {
    closeSync(fd);
  }
}

/** Into a file of its own, then renamed into place: a concurrent start never reads half a cache. */
function writeCache(path: string, digest: Buffer, script: vm.Script): boolean {
  const temporary = `${path}.${process.pid}.tmp`;
  removeStaleTemporaries(path);
  try {
    const data = script.createCachedData();
    writeFileSync(temporary, Buffer.concat([MAGIC, digest, sha256(data), data]), { mode: 0o644, flag: 'wx' });
    renameSync(temporary, path);
    return true;
  } catch {
    // A read-only install (a global npm prefix owned by root): every start compiles, as without a cache.
    try {
      unlinkSync(temporary);
    } catch {
      // Not created.
    }
    return false;
  }
}

/**
 * Removes what a process killed while writing this cache left (`<cache>.<pid>.tmp` of a pid that no longer
 * runs). Only that exact name, only a regular file (never a link: `lstat`, and `unlink` removes a link itself,
 * not what it names) owned by this user; a pid that runs (maybe reused) or cannot be asked keeps its file.
 * Best effort: a cache is written without it.
 */
function removeStaleTemporaries(path: string): void {
  const folder = dirname(path);
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const digits = name.slice(prefix.length, -'.tmp'.length);
    if (!/^[1-9]\d{0,9}$/.test(digits)) continue;
    const pid = Number(digits);
    if (pid === process.pid || processRuns(pid)) continue;
    const file = join(folder, name);
    try {
      const stat = lstatSync(file);
      if (!stat.isFile() || (process.getuid !== undefined && stat.uid !== process.getuid())) continue;
      unlinkSync(file);
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
}

/** Whether a process `pid` exists; one of another user (EPERM) or any doubt counts as running. */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
