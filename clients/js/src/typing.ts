// Typing indicators on top of ephemeral messages: `start()` on every keystroke, `stop()` when the
// text is sent, and a "who is typing" set that empties by itself when a typist goes quiet, leaves
// or disconnects.
//
// Wire format: an `ephemeral` message whose data is `{"$typing": true}` or `{"$typing": false}`.
// While typing, the sender repeats `true` every `refreshMs` (ephemeral messages may be dropped
// for a slow reader, and a receiver forgets a typist after `timeoutMs` without one).

import { reportListenerError } from "./emitter.js";
import type { Json } from "./protocol.js";
import type { Unsubscribe } from "./types.js";

export interface TypingOptions {
  /** While typing, the indicator is sent again this often, in ms. Default 2000. */
  refreshMs?: number;
  /** Typing stops by itself this long after the last `start()`, in ms. Default 4000. */
  idleMs?: number;
  /**
   * Another client stops counting as typing when nothing came from it for this long, in ms.
   * Default 5000; keep it above the senders' `refreshMs`.
   */
  timeoutMs?: number;
}

/** The key of the ephemeral payload that carries a typing indicator. */
export const TYPING_KEY = "$typing";

/** Whether an ephemeral payload is a typing indicator; returns its value. */
export function typingSignal(data: Json): boolean | undefined {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  const value = data[TYPING_KEY];
  return typeof value === "boolean" ? value : undefined;
}

export interface TypingHost {
  /** Sends the indicator; failures (not subscribed, disconnected) are ignored by the caller. */
  send(typing: boolean): Promise<void>;
  /** This client's id, so that its own devices are not listed. */
  ownClientId(): string | null;
}

interface Typist {
  connectionId: string;
  timer: ReturnType<typeof setTimeout>;
}

export class Typing {
  private readonly refreshMs: number;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly typists = new Map<string, Typist>();
  private readonly listeners = new Set<(clientIds: readonly string[]) => void>();
  private list: readonly string[] = Object.freeze([]);
  private typing = false;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: TypingHost,
    options: TypingOptions = {},
  ) {
    this.refreshMs = Math.max(50, options.refreshMs ?? 2_000);
    this.idleMs = Math.max(50, options.idleMs ?? 4_000);
    this.timeoutMs = Math.max(50, options.timeoutMs ?? 5_000);
  }

  /** Whether this client is currently shown as typing. */
  get isTyping(): boolean {
    return this.typing;
  }

  /** The client ids currently typing (not this client), sorted. The same array until it changes. */
  get current(): readonly string[] {
    return this.list;
  }

  /**
   * This client is typing. Call it on every keystroke: the indicator is sent at once the first
   * time, then repeated every `refreshMs` while calls keep coming, and stopped `idleMs` after
   * the last call.
   */
  start(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), this.idleMs);
    if (this.typing) return;
    this.typing = true;
    this.signal(true);
    this.refreshTimer = setInterval(() => this.signal(true), this.refreshMs);
  }

  /** This client stopped typing (sent its message, cleared the input). */
  stop(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    if (!this.typing) return;
    this.typing = false;
    this.signal(false);
  }

  /** Listens to the "who is typing" set; returns the function that stops listening. */
  subscribe(listener: (clientIds: readonly string[]) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  unsubscribeAll(): void {
    this.listeners.clear();
  }

  // ---- fed by the channel ----

  /** @internal An indicator arrived. */
  received(clientId: string | null, connectionId: string, typing: boolean): void {
    if (clientId === null || clientId === this.host.ownClientId()) return;
    const existing = this.typists.get(clientId);
    if (existing) clearTimeout(existing.timer);
    if (!typing) {
      if (existing) this.drop(clientId);
      return;
    }
    const timer = setTimeout(() => this.drop(clientId), this.timeoutMs);
    this.typists.set(clientId, { connectionId, timer });
    if (!existing) this.changed();
  }

  /** @internal The client left the channel (its last connection). */
  memberLeft(clientId: string): void {
    if (this.typists.has(clientId)) this.drop(clientId);
  }

  /** @internal One of a member's connections went away: if it was the typing one, it stopped. */
  connectionRemoved(clientId: string, connectionId: string): void {
    if (this.typists.get(clientId)?.connectionId === connectionId) this.drop(clientId);
  }

  /** @internal This client lost its connection or left: nobody is known to be typing. */
  clearOthers(): void {
    if (this.typists.size === 0) return;
    for (const typist of this.typists.values()) clearTimeout(typist.timer);
    this.typists.clear();
    this.changed();
  }

  /** @internal The channel was left: stop everything, silently. */
  halt(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.idleTimer = this.refreshTimer = undefined;
    this.typing = false;
    this.clearOthers();
  }

  private drop(clientId: string): void {
    const typist = this.typists.get(clientId);
    if (!typist) return;
    clearTimeout(typist.timer);
    this.typists.delete(clientId);
    this.changed();
  }

  private signal(typing: boolean): void {
    this.host.send(typing).catch(() => {
      // Typing indicators are best-effort: the next refresh (or the receivers' timeout) fixes it.
    });
  }

  private changed(): void {
    this.list = Object.freeze([...this.typists.keys()].sort());
    for (const listener of [...this.listeners]) {
      try {
        listener(this.list);
      } catch (error) {
        reportListenerError(error);
      }
    }
  }
}
