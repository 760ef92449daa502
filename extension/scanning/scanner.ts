import type { ThreatLevel } from '../../daemon/protocol/entry.ts';

/** What is being scanned, and where it came from: decides the Lakera message role and the entry kind. */
export type ScanTarget = 'input' | 'output' | 'file';

export interface ScanRequest {
  target: ScanTarget;
  /** The text to screen. For a file: its text content. */
  content: string;
  /** Earlier turns, oldest first, for scanners that use context (Lakera screens the last turn). */
  history?: ReadonlyArray<{ role: 'user' | 'assistant' | 'system'; content: string }>;
  /** Sent with each Lakera call so that it shows in the Lakera platform tied to this session and user. */
  metadata: { session_id: string; user_id?: string; source: 'vscode-chat' | 'vscode-file'; conversation_id?: string };
  signal?: AbortSignal;
}

/** The outcome of one scan, in the fields of the audit entry's `scanner` object. */
export interface ScanVerdict {
  /** `lakera` or `heuristic`: every verdict says which scanner made it. */
  scanner: 'lakera' | 'heuristic';
  flagged: boolean;
  /** Category → detected. Lakera: breakdown detector types; heuristic: its pattern families. */
  categories: Record<string, boolean>;
  /** Category → score in 0..1 (heuristic only: Lakera v2 returns no scores). */
  scores: Record<string, number>;
  /** Lakera detector ids / heuristic rule ids that fired. */
  detectors_triggered: string[];
  /** Human-readable names of what matched, e.g. "Instruction override". Never the matched text. */
  detected_patterns: string[];
  threat_level: ThreatLevel;
  latency_ms: number;
  /** Lakera's `metadata.request_uuid`, kept in the audit entry to find the call in the Lakera platform. */
  request_uuid?: string;
}

/** A scan that did not produce a verdict: recorded as a scan error, never as "not flagged". */
export class ScanError extends Error {
  /** `timeout`, `http_401`, `http_429`, `http_5xx`, `bad_response`, `network`, `too_large`, `aborted`. */
  readonly code: string;
  readonly status: number | undefined;
  readonly scanner: 'lakera' | 'heuristic';
  readonly latencyMs: number;
  constructor(scanner: 'lakera' | 'heuristic', code: string, message: string, options: { status?: number; latencyMs: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'ScanError';
    this.scanner = scanner;
    this.code = code;
    this.status = options.status;
    this.latencyMs = options.latencyMs;
  }
}

/** One interface, one file per backend (Lakera Guard, local heuristic). */
export interface Scanner {
  readonly name: 'lakera' | 'heuristic';
  /** Resolves with a verdict or rejects with a {@link ScanError}. */
  scan(request: ScanRequest): Promise<ScanVerdict>;
}
