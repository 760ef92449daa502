/** `,"seq":` and `,"ts":"`: a member key after another member (in canonical JSON, every key but the first). */
const SEQ_KEY = Buffer.from(',"seq":');
const TS_KEY = Buffer.from(',"ts":"');
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** What an export needs of each row when it copies the stored line as it is. */
export interface StoredLineFields {
  seq: number;
  ts: string;
}

/**
 * `seq` and `ts` of a stored line (`data[start, end)`, without its newline), read from the line's tail
 * instead of parsing the whole line: an export copies the stored bytes and needs only these two.
 *
 * A stored line is canonical JSON (docs/entry.md §7.1): members sorted by key, no white space, a `"` inside
 * a string always escaped. So the bytes `,"` never occur inside a string, and `,"seq":` is a member key of
 * some object. When the only `}` after it is the line's last byte, no object closes after it but the entry
 * itself: it is the entry's own `seq`, and every key after it (`ts` sorts after `seq`) is the entry's too.
 * Anything else (a `}` inside a later string, an escaped `ts`, a line that does not start `{"` or is not
 * shaped like this) answers null: then parse the line.
 */
export function storedLineFields(data: Buffer, start: number, end: number): StoredLineFields | null {
  // A canonical entry starts `{"`: a line whose head was overwritten (its tail intact) is parsed, and refused.
  if (end - start < 4 || data[start] !== OPEN_BRACE || data[start + 1] !== QUOTE || data[end - 1] !== CLOSE_BRACE) return null;
  const key = data.lastIndexOf(SEQ_KEY, end - 1);
  if (key < start) return null;
  const brace = data.indexOf(CLOSE_BRACE, key);
  if (brace !== end - 1) return null;
  let at = key + SEQ_KEY.length;
  let seq = 0;
  const digitsFrom = at;
  for (let c = data[at] ?? 0; c >= 0x30 && c <= 0x39; c = data[++at] ?? 0) seq = seq * 10 + (c - 0x30);
  if (at === digitsFrom || at - digitsFrom > 15 || (data[digitsFrom] === 0x30 && at - digitsFrom > 1)) return null;
  if (data[at] !== 0x2c && at !== end - 1) return null;
  const tsKey = data.indexOf(TS_KEY, at);
  if (tsKey === -1 || tsKey >= end) return null;
  const tsFrom = tsKey + TS_KEY.length;
  const tsTo = data.indexOf(QUOTE, tsFrom);
  if (tsTo === -1 || tsTo >= end) return null;
  // An edited line may repeat a key after these (JSON.parse keeps the last): spelled with an escape or
  // after white space it would not be found by its bytes, so a tail with either is parsed, and so is one
  // where `ts` comes again.
  for (let i = key; i < end; i++) {
    const c = data[i] as number;
    if (c === BACKSLASH || c <= 0x20) return null;
  }
  // A second `,"ts":` member, searched within the line only (a search of the buffer would run on into the next lines).
  for (let i = tsTo + 1; i + 6 <= end; i++) {
    if (data[i] === 0x2c && data[i + 1] === QUOTE && data[i + 2] === 0x74 && data[i + 3] === 0x73 && data[i + 4] === QUOTE && data[i + 5] === 0x3a) return null;
  }
  return { seq, ts: data.toString('utf8', tsFrom, tsTo) };
}
