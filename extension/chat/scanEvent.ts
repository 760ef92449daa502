import { IngestEvent } from '../../daemon/protocol/entry.ts';
import type { ScanError, ScanTarget, ScanVerdict } from '../scanning/scanner.ts';

export interface ScanEventInput {
  target: ScanTarget;
  outcomes: ReadonlyArray<ScanVerdict | ScanError>;
  decision: 'allowed' | 'blocked' | 'warned' | 'error';
  reason: string;
  /** The scanned text: goes to the daemon as `input`/`output`, converted there to the content mode. */
  content: string;
  session: { sessionId: string; userId?: string; workspace?: string; conversationId: string; projectId?: string };
  model?: { provider: string; model: string };
  latencyMs?: number;
  tokens?: { input: number; output: number };
  /** For attached files: sha256 is over the file's bytes, as read from disk. */
  file?: { name: string; type: string; size: number; sha256: string };
}

function isVerdict(outcome: ScanVerdict | ScanError): outcome is ScanVerdict {
  return 'flagged' in outcome;
}

const LEVELS = ['none', 'low', 'medium', 'high', 'critical'] as const;

/**
 * One audit event for one scan, with the fields of the Lakera telemetry payload (event_type, context,
 * flagged, categories, scores, threat level, detected patterns, message length, file metadata, project)
 * plus provider, model, latency and tokens. When two scanners ran, their findings are merged and the
 * scanner name says both (`lakera+heuristic`); a scanner error is recorded as such, never as "not flagged".
 */
export function buildScanEvent(input: ScanEventInput): IngestEvent {
  const verdicts = input.outcomes.filter(isVerdict);
  const errors = input.outcomes.filter((o): o is ScanError => !isVerdict(o));
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const detectors = new Set<string>();
  const patterns = new Set<string>();
  let level = 0;
  for (const verdict of verdicts) {
    for (const [name, detected] of Object.entries(verdict.categories)) categories[name] = (categories[name] ?? false) || detected;
    for (const [name, score] of Object.entries(verdict.scores)) scores[name] = Math.max(scores[name] ?? 0, score);
    verdict.detectors_triggered.forEach((d) => detectors.add(d));
    verdict.detected_patterns.forEach((p) => patterns.add(p));
    level = Math.max(level, LEVELS.indexOf(verdict.threat_level));
  }
  const lakera = verdicts.find((v) => v.scanner === 'lakera');
  const firstError = errors[0];
  const kind = input.target === 'input' ? 'chat.input' : input.target === 'output' ? 'chat.output' : 'file.upload';
  const event: IngestEvent = {
    kind,
    event_type: input.decision === 'blocked' ? 'blocked' : input.decision === 'allowed' ? 'allowed' : 'scan',
    decision: input.decision,
    reason: input.reason,
    context: { type: input.target === 'file' ? 'file_upload' : 'chat', source: input.target === 'file' ? 'file_upload' : 'chat' },
    scanner: {
      name: [...new Set(input.outcomes.map((o) => o.scanner))].join('+'),
      // No verdict (every scanner failed): `flagged` is left out rather than claiming "not flagged".
      ...(verdicts.length === 0 ? {} : { flagged: verdicts.some((v) => v.flagged) }),
      categories,
      scores,
      detectors_triggered: [...detectors],
      detected_patterns: [...patterns],
      latency_ms: Math.max(0, ...input.outcomes.map((o) => ('latency_ms' in o ? o.latency_ms : o.latencyMs))),
      ...(lakera?.request_uuid === undefined ? {} : { request_uuid: lakera.request_uuid }),
      ...(firstError === undefined
        ? {}
        : { error: { code: firstError.code, message: firstError.message.slice(0, 4000), ...(firstError.status === undefined ? {} : { status: firstError.status }) } }),
    },
    threat_level: LEVELS[level] ?? 'none',
    actor: {
      session_id: input.session.sessionId,
      ...(input.session.userId === undefined ? {} : { user_id: input.session.userId }),
      ...(input.session.workspace === undefined ? {} : { workspace: input.session.workspace }),
    },
    conversation_id: input.session.conversationId,
    message_length: input.content.length,
  };
  if (input.decision === 'blocked') event.block_reason = input.reason;
  if (input.session.projectId !== undefined) event.project_id = input.session.projectId;
  if (input.model !== undefined) {
    event.provider = input.model.provider;
    event.model = input.model.model;
  }
  if (input.latencyMs !== undefined) event.latency_ms = input.latencyMs;
  if (input.tokens !== undefined) {
    event.input_tokens = input.tokens.input;
    event.output_tokens = input.tokens.output;
  }
  if (input.target === 'output') event.output = input.content;
  else event.input = input.content;
  if (input.file !== undefined) {
    event.file = { ...input.file };
  }
  // Checked here with the daemon's own schema: a bug shows up at once, not as a rejected event later.
  return IngestEvent.parse(event);
}

export interface FailureEventInput {
  target: ScanTarget;
  /** Stable code of what went wrong (`binary_file`, `too_large`, `prompt_too_long`, `http_500`, …). */
  code: string;
  /** The sentence the user was shown. */
  reason: string;
  session: ScanEventInput['session'];
  /** Characters of the refused or failed text (its content is not recorded: it was never scanned). */
  messageLength: number;
  model?: { provider: string; model: string };
  latencyMs?: number;
  file?: { name: string; type?: string; size: number; sha256?: string };
}

/**
 * One audit event for a refusal or failure where no scanner gave a verdict: a file that cannot be
 * attached, a prompt over the size limit, a model that failed. `decision: error` with the reason, and
 * the code in `metadata.error_code`; no `scanner` block, since no scan happened.
 */
export function buildFailureEvent(input: FailureEventInput): IngestEvent {
  const event: IngestEvent = {
    kind: input.target === 'input' ? 'chat.input' : input.target === 'output' ? 'chat.output' : 'file.upload',
    event_type: 'scan',
    decision: 'error',
    reason: input.reason.slice(0, 4000),
    context: { type: input.target === 'file' ? 'file_upload' : 'chat', source: input.target === 'file' ? 'file_upload' : 'chat' },
    actor: {
      session_id: input.session.sessionId,
      ...(input.session.userId === undefined ? {} : { user_id: input.session.userId }),
      ...(input.session.workspace === undefined ? {} : { workspace: input.session.workspace }),
    },
    conversation_id: input.session.conversationId,
    message_length: input.messageLength,
    metadata: { error_code: input.code },
  };
  if (input.session.projectId !== undefined) event.project_id = input.session.projectId;
  if (input.model !== undefined) {
    event.provider = input.model.provider;
    event.model = input.model.model;
  }
  if (input.latencyMs !== undefined) event.latency_ms = input.latencyMs;
  if (input.file !== undefined) event.file = { ...input.file };
  return IngestEvent.parse(event);
}
