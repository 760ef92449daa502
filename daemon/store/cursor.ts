import { ErrorCodes, AuditError } from '../protocol/errors.ts';

/** Where the next newest-first page starts: before the line at `offset` of segment `segment`. */
export interface PageCursor {
  segment: number;
  offset: number;
  /** Seq of the last entry returned, to detect a cursor that no longer fits the files. */
  seq: number;
}

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(`${cursor.segment}.${cursor.offset}.${cursor.seq}`).toString('base64url');
}

export function decodeCursor(text: string): PageCursor {
  const parts = Buffer.from(text, 'base64url').toString('utf8').split('.');
  const numbers = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
  const [segment, offset, seq] = numbers;
  if (numbers.length !== 3 || segment === undefined || offset === undefined || seq === undefined || numbers.some(Number.isNaN)) {
    throw new AuditError(ErrorCodes.BadCursor, 'the cursor is malformed: pass back next_cursor exactly as it was returned');
  }
  return { segment, offset, seq };
}
