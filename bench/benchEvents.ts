// The events every figure sends or writes: realistic chat events (prompt text, scanner verdict, actor,
// idempotency key), so that the daemon and the plain loggers handle the same objects.

export interface BenchEvent {
  kind: 'chat.input';
  input: string;
  provider: string;
  model: string;
  actor: { user_id: string; session_id: string };
  scanner: { name: string; flagged: boolean; categories: { prompt_attack: boolean } };
  latency_ms: number;
  idempotency_key: string;
  decision?: 'blocked' | 'allowed';
  ts?: string;
}

/** Event `i` of a run named `run` (the run keeps idempotency keys unique across rounds). */
export function benchEvent(run: string, i: number): BenchEvent {
  return {
    kind: 'chat.input',
    input: `prompt number ${i} with some realistic length of text to hash, as a user would type it into the chat`,
    provider: 'openai',
    model: 'gpt-4o',
    actor: { user_id: `u${i % 50}`, session_id: `s${i % 500}` },
    scanner: { name: 'lakera', flagged: i % 10 === 0, categories: { prompt_attack: i % 10 === 0 } },
    latency_ms: 12,
    idempotency_key: `${run}-${i}`,
  };
}

/** `count` events from `from`. */
export function benchEvents(run: string, from: number, count: number): BenchEvent[] {
  const events: BenchEvent[] = [];
  for (let i = 0; i < count; i++) events.push(benchEvent(run, from + i));
  return events;
}
