import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { Entry, JsonValue } from '../../daemon/protocol/entry.ts';
import type { DaemonProcess } from '../support/daemonProcess.ts';
import { startDaemonSuite, type DaemonSuite } from '../support/daemonSuite.ts';
import { processRssMiB } from '../support/processRss.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { reliabilitySize } from './reliabilitySize.ts';

/**
 * A protocol fuzzer against a real daemon process: random bytes, garbage text, truncated and deep JSON,
 * wrong types, `__proto__` / `constructor` keys and huge strings, interleaved with valid events. Every
 * bad frame must get its typed error, the daemon must stay up with bounded memory, and every valid event
 * must be stored exactly once, exactly as sent. The seed is printed; `AI_AUDIT_FUZZ_SEED` replays a run.
 */

const FRAMES = reliabilitySize({ ci: 5000, full: 100_000 });
const SEED = Number(process.env.AI_AUDIT_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

const random = seededRandom(SEED);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

const ALPHABET = ['a', 'b', 'z', '0', ' ', '"', '\\', '/', '\n', '\t', 'é', 'ß', '中', '😀', '\u2028', '{', '}', '[', ']', ':', ',', '\u0000'];
function randomString(max: number): string {
  let out = '';
  const length = int(max + 1);
  for (let i = 0; i < length; i++) out += pick(ALPHABET);
  return out;
}

/** A JSON value that the metadata schema accepts (after a JSON round trip, so -0 and friends are gone). */
function randomJson(depth: number): JsonValue {
  const roll = int(depth <= 0 ? 4 : 6);
  if (roll === 0) return randomString(20);
  if (roll === 1) return pick([0, 1, -7, 3.25, 1e21, -1.5e-7, Number.MAX_SAFE_INTEGER, int(1e9)]);
  if (roll === 2) return random() < 0.5;
  if (roll === 3) return null;
  if (roll === 4) return Array.from({ length: int(4) }, () => randomJson(depth - 1));
  const object: Record<string, JsonValue> = {};
  for (let i = int(4); i > 0; i--) object[pick(['constructor', 'prototype', 'toString', 'hasOwnProperty', '', randomString(8)])] = randomJson(depth - 1);
  return object;
}

const KINDS = ['chat.input', 'chat.output', 'file.upload', 'mcp.call', 'governance.check'] as const;
let nextFuzzId = 1;

/** A valid event with a unique `metadata.fuzz`, and what the stored entry must then hold. */
function validEvent(): Record<string, JsonValue> {
  const event: Record<string, JsonValue> = {
    kind: pick(KINDS),
    metadata: JSON.parse(JSON.stringify({ fuzz: nextFuzzId++, extra: randomJson(3) })) as JsonValue,
  };
  if (random() < 0.3) event.model = randomString(30);
  if (random() < 0.3) event.reason = randomString(200);
  if (random() < 0.2) event.decision = pick(['allowed', 'blocked', 'warned', 'error']);
  if (random() < 0.2) event.input = randomString(2000);
  return event;
}

/**
 * Deep JSON is built as text: JSON.stringify recurses and overflows the test's own stack. A value holds
 * a placeholder string, which {@link stringify} replaces with `depth` levels of nesting.
 */
const deep = (depth: number): string => `\u0001deep:${depth}`;

function deepText(depth: number): string {
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < depth; i++) {
    const array = (i * 7919) % 3 === 0;
    open.push(array ? '[' : '{"k":');
    close.push(array ? ']' : '}');
  }
  return `${open.join('')}1${close.reverse().join('')}`;
}

function stringify(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0001deep:(\d+)"/g, (_, depth: string) => deepText(Number(depth)));
}

/** A bad event and why it is bad; each gets `invalid_params` in its slot. */
function badEvent(): Record<string, JsonValue> {
  switch (int(8)) {
    case 0:
      return { kind: 'chat.input', metadata: { d: deep(33 + int(3000)) } };
    case 1:
      return JSON.parse('{"kind":"chat.input","metadata":{"__proto__":{"polluted":true}}}') as Record<string, JsonValue>;
    case 2:
      return JSON.parse('{"kind":"chat.input","__proto__":{"kind":"chat.output"}}') as Record<string, JsonValue>;
    case 3:
      return { kind: 'chat.input', reason: 'r'.repeat(4097 + int(20_000)) };
    case 4:
      return { kind: 'chat.input', metadata: { ['k'.repeat(513 + int(2000))]: 1 } };
    case 5:
      return { kind: pick([5, 'audit.decrypt', 'chat', null, ['chat.input']]) } as Record<string, JsonValue>;
    case 6:
      return { kind: 'chat.input', risk_score: pick(['high', true, [1], { v: 1 }]) } as Record<string, JsonValue>;
    default:
      return { kind: 'chat.input', metadata: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])) };
  }
}

type Expectation =
  | { type: 'error'; code: string }
  | { type: 'ingest'; events: Array<{ valid: Record<string, JsonValue> } | { valid: null }> };

interface Frame {
  data: string | Buffer;
  expect: Expectation;
}

function ingestFrame(id: number): Frame {
  const slots: Array<{ valid: Record<string, JsonValue> } | { valid: null }> = [];
  const events: unknown[] = [];
  for (let i = 1 + int(3); i > 0; i--) {
    if (random() < 0.7) {
      const event = validEvent();
      slots.push({ valid: event });
      events.push(event);
    } else {
      slots.push({ valid: null });
      events.push(badEvent());
    }
  }
  return { data: stringify({ id, method: 'ingest', params: { events } }), expect: { type: 'ingest', events: slots } };
}

function badFrame(id: number): Frame {
  const error = (data: string | Buffer, code: string): Frame => ({ data, expect: { type: 'error', code } });
  switch (int(16)) {
    case 0:
      return error(randomBytes(1 + int(2000)), 'bad_request');
    case 1: {
      const text = randomString(200);
      // Garbage that happens to be JSON is not a request either.
      let code = 'bad_json';
      try {
        JSON.parse(text);
        code = 'bad_request';
      } catch {
        // not JSON
      }
      return error(text, code);
    }
    case 2: {
      const whole = JSON.stringify({ id, method: 'ingest', params: { events: [validEventDiscarded()] } });
      return error(whole.slice(0, int(whole.length - 1)), 'bad_json');
    }
    case 3:
      return error(stringify(deep(100 + int(20_000))), 'bad_request');
    case 4:
      return error(stringify({ id, method: 'query', params: { filter: deep(50 + int(5000)) } }), 'invalid_params');
    case 5:
      return error(JSON.stringify({ id, method: 'query', params: { limit: pick(['ten', -1, 1.5, 5000, null, [1]]) } }), 'invalid_params');
    case 6:
      return error(JSON.stringify({ id: pick([{ x: 1 }, [1], true, 'i'.repeat(65)]), method: 'health' }), 'bad_request');
    case 7:
      return error(JSON.stringify({ id, method: pick([1, null, { m: 1 }, 'm'.repeat(65)]) }), 'bad_request');
    case 8:
      return error(JSON.stringify({ id, method: pick(['export.everything', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) }), 'unknown_method');
    case 9:
      return error(`{"id":${id},"method":"health","__proto__":{"admin":true}}`, 'bad_request');
    case 10:
      return error(JSON.stringify({ id, method: 'get', params: { constructor: { prototype: 1 } } }), 'invalid_params');
    case 11:
      return error(JSON.stringify({ id, method: 'ingest', params: { events: pick([[], 'x', null, {}]) } }), 'invalid_params');
    case 12:
      return error(JSON.stringify({ id, method: 'settings.set', params: { retention_days: pick([-5, 0, 'x', 1e9]) } }), 'invalid_params');
    case 13:
      return error(JSON.stringify({ id, method: 'decrypt', params: { seq: 1, reason: 'r'.repeat(5000 + int(100_000)) } }), 'invalid_params');
    case 14:
      return error(JSON.stringify({ id, method: 'query', params: { filter: { text: 't'.repeat(513 + int(1_000_000)) } } }), 'invalid_params');
    default:
      return error(JSON.stringify([id, 'health', {}]), 'bad_request');
  }
}

/** A valid-looking event that is never stored (its frame is cut), so it takes no fuzz id. */
function validEventDiscarded(): Record<string, JsonValue> {
  return { kind: 'chat.input', metadata: { cut: randomString(50) } };
}

describe(`protocol fuzzer: ${FRAMES} frames, seed ${SEED} (real daemon process)`, () => {
  let suite: DaemonSuite | undefined;
  let daemon: DaemonProcess;
  let client: DaemonClient;

  before(async () => {
    process.stderr.write(`protocol fuzzer seed ${SEED} (replay with AI_AUDIT_FUZZ_SEED=${SEED})\n`);
    suite = await startDaemonSuite('fuzz', { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });
    ({ daemon, client } = suite);
  });
  after(() => suite?.dispose());

  test('typed errors for every bad frame, the daemon stays up with bounded memory, valid events stored exactly', { timeout: 3_600_000 }, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
    await once(ws, 'open');
    const responses: string[] = [];
    let wake: (() => void) | null = null;
    ws.on('message', (data) => {
      responses.push(data.toString());
      wake?.();
    });
    ws.once('close', (code) => assert.fail(`the daemon closed the fuzzing connection (${code})`));
    const nextResponse = async (): Promise<Record<string, unknown>> => {
      while (responses.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return JSON.parse(responses.shift() as string) as Record<string, unknown>;
    };

    const startRss = await processRssMiB(daemon.child.pid ?? 0);
    let peakRss = startRss ?? 0;
    const stored = new Map<number, { event: Record<string, JsonValue>; seq: number }>();
    const counts = new Map<string, number>();
    for (let n = 1; n <= FRAMES; n++) {
      const frame = random() < 0.4 ? ingestFrame(n) : badFrame(n);
      ws.send(frame.data, { binary: Buffer.isBuffer(frame.data) });
      const response = await nextResponse();
      const where = `frame ${n} (seed ${SEED}): ${String(frame.data).slice(0, 120)} → ${JSON.stringify(response).slice(0, 300)}`;
      if (frame.expect.type === 'error') {
        const error = response.error as { code: string } | undefined;
        assert.equal(error?.code, frame.expect.code, where);
        counts.set(error.code, (counts.get(error.code) ?? 0) + 1);
        continue;
      }
      const acks = (response.result as { acks: Array<{ seq?: number; error?: { code: string } }> } | undefined)?.acks;
      assert.ok(acks !== undefined && acks.length === frame.expect.events.length, where);
      frame.expect.events.forEach((slot, i) => {
        const ack = acks[i];
        if (slot.valid === null) {
          assert.equal(ack?.error?.code, 'invalid_params', where);
          counts.set('invalid event', (counts.get('invalid event') ?? 0) + 1);
        } else {
          assert.ok(typeof ack?.seq === 'number', where);
          stored.set((slot.valid.metadata as { fuzz: number }).fuzz, { event: slot.valid, seq: ack.seq });
        }
      });
      if (n % 250 === 0 && startRss !== null) peakRss = Math.max(peakRss, (await processRssMiB(daemon.child.pid ?? 0)) ?? 0);
    }
    ws.removeAllListeners('close');
    ws.close();
    process.stderr.write(`protocol fuzzer: ${stored.size} valid events stored; errors ${JSON.stringify(Object.fromEntries(counts))}\n`);

    assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
    if (startRss !== null) assert.ok(peakRss - startRss < 150, `the daemon grew by ${(peakRss - startRss).toFixed(0)} MiB`);

    // Every valid event exactly once, exactly as sent.
    const found = new Map<number, Entry>();
    let cursor: string | undefined;
    for (;;) {
      const page = await client.request('query', { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const entry of page.entries) {
        const fuzz = (entry.metadata as { fuzz?: number } | undefined)?.fuzz;
        assert.ok(typeof fuzz === 'number', `an entry that no valid event made: ${JSON.stringify(entry).slice(0, 300)}`);
        assert.ok(!found.has(fuzz), `event ${fuzz} stored twice`);
        found.set(fuzz, entry);
      }
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    assert.equal(found.size, stored.size);
    for (const [fuzz, { event, seq }] of stored) {
      const entry = found.get(fuzz);
      assert.ok(entry !== undefined, `event ${fuzz} was acked (seq ${seq}) but is not stored`);
      assert.equal(entry.seq, seq);
      assert.equal(entry.kind, event.kind);
      assert.deepEqual(entry.metadata, event.metadata);
      for (const field of ['model', 'reason', 'decision'] as const) {
        if (event[field] !== undefined) assert.equal(entry[field], event[field], `event ${fuzz}: ${field}`);
      }
      if (typeof event.input === 'string') assert.equal(entry.content.input_length, event.input.length);
    }
    const report = await client.request('verify', {});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
  });
});
