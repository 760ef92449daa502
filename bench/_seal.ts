import { randomBytes, hash, createHmac } from 'node:crypto';
import { buildEntry, parseEvent } from '../daemon/store/entryBuilder.ts';
import { sealEntry } from '../daemon/store/entryHash.ts';
import { canonicalJson, quoteKey } from '../daemon/store/canonicalJson.ts';
import { benchEvents } from './benchEvents.ts';
const N = 20000;
const events = JSON.parse(JSON.stringify(benchEvents('m', 0, N))) as unknown[];
const key = randomBytes(32);
const keys = { hmac: { id: 'h1', key }, encryption: { id: 'e1', key } } as never;
const parsed = events.map((e) => parseEvent(e, Date.now())) as never[];
const rec = new Date().toISOString();
const entries = parsed.map((p, i) => { const { entry } = buildEntry(p, { seq: i, id: 'id', recordedAt: rec, prev: '0'.repeat(64), defaultMode: 'hash', keys }); delete (entry as any).hash; return entry; });
function time(name: string, fn: (i: number) => unknown): void {
  for (let r = 0; r < 5; r++) {
    const c = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(i);
    const u = process.cpuUsage(c);
    if (r === 4) console.log(name.padEnd(28), ((u.user + u.system) / N).toFixed(2), 'µs');
  }
}
time('sealEntry', (i) => { const e = { ...entries[i] }; return sealEntry(e as never); });
time('copy only', (i) => ({ ...entries[i] }));
time('canonicalJson', (i) => canonicalJson(entries[i]));
const texts = entries.map((e) => canonicalJson(e));
time('hash of flat text', (i) => hash('sha256', texts[i]!, 'hex'));
time('canonical+hash', (i) => hash('sha256', canonicalJson(entries[i]), 'hex'));
time('Object.keys+sort', (i) => Object.keys(entries[i]!).sort());
time('JSON.stringify entry', (i) => JSON.stringify(entries[i]));
time('Buffer.byteLength', (i) => Buffer.byteLength(texts[i]!));
time('Buffer.from', (i) => Buffer.from(texts[i]!));
const inputs = (events as any[]).map((e) => e.input as string);
time('createHmac', (i) => createHmac('sha256', key).update(inputs[i]!, 'utf8').digest('hex'));
const ipad = Buffer.alloc(64, 0x36); const opad = Buffer.alloc(64, 0x5c);
for (let j = 0; j < 32; j++) { ipad[j]! ^= key[j]!; opad[j]! ^= key[j]!; }
const scratch = Buffer.allocUnsafe(65536); ipad.copy(scratch, 0);
const outer = Buffer.allocUnsafe(96); opad.copy(outer, 0);
function hmac2(text: string): string {
  const n = scratch.write(text, 64, 'utf8');
  const inner = hash('sha256', scratch.subarray(0, 64 + n), 'buffer') as unknown as Buffer;
  inner.copy(outer, 64);
  return hash('sha256', outer, 'hex');
}
console.log(hmac2(inputs[0]!) === createHmac('sha256', key).update(inputs[0]!, 'utf8').digest('hex'));
time('manual hmac', (i) => hmac2(inputs[i]!));
