import { randomBytes } from 'node:crypto';
import { ExportDestinationError } from '../exportDestination.ts';

/**
 * Joins a destination's prefix and a key relative to it. A prefix that does not end with `/` gets one, so
 * `team-a` and `team-a/` name the same folder and `team-a` never matches keys of `team-ab`.
 */
export function joinKey(prefix: string, key: string): string {
  if (key === '' || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.')) {
    throw new ExportDestinationError('invalid_config', 'An object key must be relative, non-empty and without "." or ".." segments.');
  }
  return `${folderPrefix(prefix)}${key}`;
}

/** The prefix as a folder: empty, or ending with exactly one `/`. */
export function folderPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** A fresh probe object's key (relative to the destination prefix) and body. */
export function probeObject(now: Date = new Date()): { key: string; content: Buffer } {
  const stamp = now.toISOString();
  const key = `.ai-audit-probe/${stamp.replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.txt`;
  return { key, content: Buffer.from(`AI Audit Trail destination probe, written ${stamp}. Safe to delete.\n`, 'utf8') };
}
