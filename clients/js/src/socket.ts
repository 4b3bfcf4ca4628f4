// The WebSocket the client talks through: the platform's (browsers, Deno, Node 22+), or one the
// application passes in (Node 20: the `ws` package). Only the standard WHATWG surface is used.

/* eslint-disable @typescript-eslint/no-explicit-any -- event objects differ between
   implementations (DOM events, `ws` events); only `data`, `code` and `reason` are read. */

/** The part of the standard WebSocket API the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  /** `ws` only: drops the TCP connection without a closing handshake. */
  terminate?: () => void;
}

/** A WebSocket class: `globalThis.WebSocket`, or `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export function platformWebSocket(): WebSocketConstructor | undefined {
  const candidate = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof candidate === "function" ? (candidate as WebSocketConstructor) : undefined;
}

/** One text frame's content as a string, or undefined for binary data. */
export function frameText(data: unknown): string | undefined {
  if (typeof data === "string") return data;
  return undefined;
}
