import { z } from 'zod';

/**
 * Messages between the chat webview and the extension, in both directions. Both sides import this
 * module (it imports neither Node nor vscode) and validate every message they receive before dispatch.
 */

/** Longest prompt the composer sends, in characters; a longer text stays in the composer (attach it as a file). */
export const MAX_PROMPT_CHARS = 200_000;

export const ModelOption = z.strictObject({
  /** Stable id: `lm:<vendor>/<id>` for vscode.lm models, `endpoint:<model>` for the OpenAI-compatible one. */
  id: z.string().max(512),
  label: z.string().max(512),
  detail: z.string().max(512).optional(),
});
export type ModelOption = z.infer<typeof ModelOption>;

export const Decision = z.enum(['allowed', 'blocked', 'warned', 'error']);

/** What the panel shows of one scan: never more than the audit entry holds. */
export const ScanSummary = z.strictObject({
  target: z.enum(['input', 'output', 'file']),
  decision: Decision,
  reason: z.string().max(4096),
  scanners: z.array(z.enum(['lakera', 'heuristic'])).max(4),
  categories: z.array(z.string().max(256)).max(64),
  /** Seq of the audit entry, once the daemon acknowledged it (null while queued). */
  auditSeq: z.number().int().nullable(),
});
export type ScanSummary = z.infer<typeof ScanSummary>;

export const Attachment = z.strictObject({
  name: z.string().max(1024),
  size: z.number().int().nonnegative(),
  type: z.string().max(128),
});

/** Webview → extension. */
export const FromWebview = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('send'), text: z.string().min(1).max(MAX_PROMPT_CHARS), modelId: z.string().max(512) }),
  /** The composer refused a prompt over {@link MAX_PROMPT_CHARS} (it stays there): recorded as a refusal. */
  z.strictObject({ type: z.literal('promptRefused'), length: z.number().int().positive() }),
  /** A link in an answer was activated: the extension shows its target and asks before opening it. */
  z.strictObject({ type: z.literal('openLink'), href: z.string().max(8192) }),
  z.strictObject({ type: z.literal('stop') }),
  /** Asks the extension to open a file picker (the webview has no file system access). */
  z.strictObject({ type: z.literal('attach') }),
  z.strictObject({ type: z.literal('removeAttachment'), name: z.string().max(1024) }),
  z.strictObject({ type: z.literal('copy'), text: z.string().max(1_000_000) }),
  z.strictObject({ type: z.literal('configureModel') }),
  z.strictObject({ type: z.literal('newConversation') }),
  /** A click on an audit `#seq` badge: open that entry in the audit log viewer. */
  z.strictObject({ type: z.literal('openAuditEntry'), seq: z.number().int().positive() }),
]);
export type FromWebview = z.infer<typeof FromWebview>;

/** Extension → webview. */
export const ToWebview = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('init'),
    models: z.array(ModelOption).max(200),
    selectedModelId: z.string().max(512).nullable(),
    /** Shown when no model exists: what to do about it. */
    noModelHint: z.string().max(2048).nullable(),
    scannerLabel: z.string().max(256),
  }),
  /** The prompt was taken (it is being scanned and sent): the composer may be cleared. */
  z.strictObject({ type: z.literal('promptAccepted') }),
  z.strictObject({ type: z.literal('userMessage'), id: z.string().max(64), text: z.string().max(MAX_PROMPT_CHARS), attachments: z.array(Attachment).max(32) }),
  z.strictObject({ type: z.literal('scan'), messageId: z.string().max(64), scan: ScanSummary }),
  /** A blocked prompt: not sent; the user sees why. */
  /** The daemon acknowledged the audit entry of a scan: its seq, for the badge. */
  z.strictObject({ type: z.literal('audited'), messageId: z.string().max(64), target: z.enum(['input', 'output', 'file']), seq: z.number().int().positive() }),
  z.strictObject({ type: z.literal('blocked'), messageId: z.string().max(64), reason: z.string().max(4096) }),
  z.strictObject({ type: z.literal('answerStart'), id: z.string().max(64), model: z.string().max(512) }),
  /** Streamed text; `hidden` while the answer waits for its output scan (the panel shows progress only). */
  z.strictObject({ type: z.literal('answerChunk'), id: z.string().max(64), text: z.string().max(1_000_000), hidden: z.boolean() }),
  /** The final state of an answer: shown, withheld (with the reason), stopped or failed. */
  z.strictObject({
    type: z.literal('answerEnd'),
    id: z.string().max(64),
    status: z.enum(['shown', 'withheld', 'stopped', 'failed']),
    /** The full text when shown; absent when withheld. */
    text: z.string().max(1_000_000).optional(),
    reason: z.string().max(4096).optional(),
  }),
  z.strictObject({ type: z.literal('attachments'), attachments: z.array(Attachment).max(32) }),
  z.strictObject({ type: z.literal('notice'), level: z.enum(['info', 'warning', 'error']), text: z.string().max(4096) }),
  z.strictObject({ type: z.literal('busy'), busy: z.boolean() }),
  z.strictObject({ type: z.literal('cleared') }),
]);
export type ToWebview = z.infer<typeof ToWebview>;
