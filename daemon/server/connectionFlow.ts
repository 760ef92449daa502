import type { FlowHealth } from '../protocol/messages.ts';
import type { WebSocket } from 'ws';

/** Bounds of what one connection may make the daemon hold. */
export interface FlowLimits {
  /** Requests handled at once; later frames wait unread. */
  maxRunning: number;
  /** Characters of the frames being handled at once (one frame is always admitted, whatever its size). */
  maxRunningChars: number;
  /** Characters queued for sending (responses and notifications) above which no new request starts. */
  maxQueuedChars: number;
}

/** What `health` reports about flow control, summed over connections. */
export type FlowTotals = FlowHealth;

/**
 * Flow control of one connection. Frames are admitted while the connection is within its
 * {@link FlowLimits}; otherwise they wait in a backlog and the socket stops being read (`ws.pause()`), so
 * the client's further frames stay in its own buffers and the kernel's. A client that never reads its
 * responses therefore stalls itself, and costs the daemon at most the queued bound plus the responses of
 * the requests already running. Reading resumes by itself as the client reads.
 */
export class ConnectionFlow {
  private readonly ws: WebSocket;
  private readonly limits: FlowLimits;
  private readonly handle: (text: string | null) => Promise<void>;
  private readonly backlog: Array<string | null> = [];
  private running = 0;
  private runningChars = 0;
  private queued = 0;
  private closed = false;

  constructor(ws: WebSocket, limits: FlowLimits, handle: (text: string | null) => Promise<void>) {
    this.ws = ws;
    this.limits = limits;
    this.handle = handle;
  }

  /** A frame arrived (null: a binary frame). */
  receive(text: string | null): void {
    if (this.closed) return;
    this.backlog.push(text);
    this.pump();
  }

  /** Sends a frame, counting it as queued until the socket has taken it. */
  send(text: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    const size = text.length;
    this.queued += size;
    this.ws.send(text, () => {
      this.queued -= size;
      this.pump();
    });
  }

  /** Characters sent but not yet taken by the socket. */
  get queuedChars(): number {
    return this.queued;
  }

  addTo(totals: FlowTotals): void {
    totals.connections += 1;
    if (this.ws.isPaused) totals.reading_paused += 1;
    totals.requests_running += this.running;
    totals.queued_chars += this.queued;
  }

  close(): void {
    this.closed = true;
    this.backlog.length = 0;
  }

  private admits(size: number): boolean {
    if (this.queued >= this.limits.maxQueuedChars) return false;
    if (this.running === 0) return true;
    return this.running < this.limits.maxRunning && this.runningChars + size <= this.limits.maxRunningChars;
  }

  private pump(): void {
    while (!this.closed && this.backlog.length > 0) {
      const text = this.backlog[0] ?? null;
      const size = text?.length ?? 0;
      if (!this.admits(size)) break;
      this.backlog.shift();
      this.running += 1;
      this.runningChars += size;
      void this.handle(text).finally(() => {
        this.running -= 1;
        this.runningChars -= size;
        this.pump();
      });
    }
    if (this.closed) return;
    if (this.backlog.length > 0) this.ws.pause();
    else if (this.ws.isPaused) this.ws.resume();
  }
}
