import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildScanEvent } from '../../../extension/chat/scanEvent.ts';
import { SecretNames, type Secrets } from '../../../extension/secrets.ts';
import type { Settings } from '../../../extension/settings.ts';
import { createTelemetry } from '../../../extension/telemetry/telemetrySetup.ts';
import { startFakeTelemetryEndpoint } from '../../support/fakeTelemetryEndpoint.ts';

const TOKEN = 'telemetry-token-wiring-5e2a';
const PROMPT = 'a prompt that must never leave the machine';

/** SecretStorage stands in as a map: the wiring reads the token from it once. */
function secretsWith(values: Record<string, string>): Secrets {
  return { get: async (name: string) => values[name] } as unknown as Secrets;
}

function settings(telemetry: Settings['telemetry']): Settings {
  return { telemetry } as Settings;
}

const event = buildScanEvent({
  target: 'input',
  outcomes: [{ scanner: 'heuristic', flagged: false, categories: {}, scores: {}, detectors_triggered: [], detected_patterns: [], threat_level: 'none', latency_ms: 1 }],
  decision: 'allowed',
  reason: '',
  content: PROMPT,
  session: { sessionId: 's-1', conversationId: 'c-1' },
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

test('the extension wiring: a recorded scan reaches the configured endpoint with the token from SecretStorage, without content', async (t) => {
  const endpoint = await startFakeTelemetryEndpoint({ token: TOKEN });
  t.after(() => endpoint.dispose());
  const logs: string[] = [];
  const telemetry = createTelemetry(settings({ enabled: true, endpoint: endpoint.url, includeUserIp: false }), secretsWith({ [SecretNames.telemetryToken]: TOKEN }), (m) => logs.push(m));
  t.after(() => telemetry.dispose());
  telemetry.forward(event);
  await until(() => endpoint.accepted.length === 1);
  assert.equal(endpoint.accepted.length, 1);
  assert.equal(endpoint.requests[0]?.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal((endpoint.accepted[0] as { event_type: string }).event_type, 'allowed');
  assert.ok(!(endpoint.requests[0]?.raw ?? '').includes(PROMPT));
  assert.deepEqual(logs, []);
});

test('the extension wiring: off without an endpoint, and a Lakera endpoint is refused with one log line', async () => {
  const logs: string[] = [];
  const off = createTelemetry(settings({ enabled: undefined, endpoint: '', includeUserIp: false }), secretsWith({}), (m) => logs.push(m));
  off.forward(event);
  off.dispose();
  const lakera = createTelemetry(settings({ enabled: true, endpoint: 'https://api.lakera.ai/v2/telemetry', includeUserIp: false }), secretsWith({}), (m) => logs.push(m));
  lakera.forward(event);
  lakera.dispose();
  assert.equal(logs.length, 1);
  assert.match(logs[0] ?? '', /Lakera has no telemetry endpoint/);
});
