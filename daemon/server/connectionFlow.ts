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
 * The bound across connections: characters of the frames received and not yet answered (waiting or being
 * handled), over every connection. Each connection has its own {@link FlowLimits}, but many connections
 * could each hold theirs at once; above this budget no connection's socket is read and no new frame starts
 * (except when none is running anywhere, so that one always makes progress), until answers free it.
 */
export class FlowBudget {
  readonly maxChars: number;
  /** Characters of frames received and not yet answered, all connections. */
  held = 0;
  /** Characters of the frames being handled, all connections. */
  running = 0;
  private readonly flows = new Set<ConnectionFlow>();

  constructor(maxChars: number) {
    this.maxChars = maxChars;
  }

  get exceeded(): boolean {
    return this.held > this.maxChars;
  }

  admits(size: number): boolean {
    return this.running === 0 || this.running + size <= this.maxChars;
  }

  join(flow: ConnectionFlow): void {
    this.flows.add(flow);
  }

  /** A frame arrived; crossing the budget stops reading every connection at once, not only this one. */
  hold(size: number): void {
    const was = this.exceeded;
    this.held += size;
    if (!was && this.exceeded) for (const flow of this.flows) flow.stopReading();
  }

  leave(flow: ConnectionFlow): void {
    this.flows.delete(flow);
  }

  /** A frame was answered (or dropped with its closed connection): others may start, or read again. */
  release(size: number, wasRunning: boolean): void {
    this.held -= size;
    if (wasRunning) this.running -= size;
    for (const flow of this.flows) flow.retry();
  }
}

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
  private readonly budget: FlowBudget;
  private readonly backlog: Array<string | null> = [];
  private running = 0;
  private runningChars = 0;
  private queued = 0;
  private closed = false;

  constructor(ws: WebSocket, limits: FlowLimits, budget: FlowBudget, handle: (text: string | null) => Promise<void>) {
    this.ws = ws;
    this.limits = limits;
    this.budget = budget;
    this.handle = handle;
    budget.join(this);
  }

  /** A frame arrived (null: a binary frame). */
  receive(text: string | null): void {
    if (this.closed) return;
    this.backlog.push(text);
    this.budget.hold(text?.length ?? 0);
    this.pump();
  }

  stopReading(): void {
    if (!this.closed) this.ws.pause();
  }

  /** The shared budget freed room: start waiting frames, or read again (cheap when nothing waits). */
  retry(): void {
    if (this.backlog.length > 0 || this.ws.isPaused) this.pump();
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
    this.budget.leave(this);
    const dropped = this.backlog.reduce((sum, text) => sum + (text?.length ?? 0), 0);
    this.backlog.length = 0;
    this.budget.release(dropped, false);
  }

  private admits(size: number): boolean {
    if (this.queued >= this.limits.maxQueuedChars) return false;
    if (!this.budget.admits(size)) return false;
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
      this.budget.running += size;
      void this.handle(text).finally(() => {
        this.running -= 1;
        this.runningChars -= size;
        this.pump();
        this.budget.release(size, true);
      });
    }
    if (this.closed) return;
    if (this.backlog.length > 0 || this.budget.exceeded) this.ws.pause();
    else if (this.ws.isPaused) this.ws.resume();
  }
}
