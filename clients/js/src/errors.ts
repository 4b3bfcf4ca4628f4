// One error class for everything the SDK rejects with. Branch on `code`.

/**
 * Codes the SDK itself produces, beside the server's codes from docs/protocol.md
 * ("Error codes"), which arrive unchanged (`invalid_token`, `not_joined`, `forbidden`, …).
 */
export type LocalErrorCode =
  /** No answer within the request timeout. */
  | "timeout"
  /** The connection was lost before the answer came. */
  | "disconnected"
  /** The client was closed (by the application, or for good after a refusal). */
  | "closed"
  /** The connection could not be opened (network error, or closed before the session). */
  | "connect_failed"
  /** The channel or client id is not valid; checked before anything is sent. */
  | "invalid_channel"
  | "invalid_client_id"
  /** The channel is not joined or watched by this client. */
  | "not_subscribed"
  /** The channel is joined; `watch` would need a `leave` first. */
  | "already_subscribed"
  /** The channel is not joined by this client. */
  | "not_joined"
  /** No WebSocket implementation: pass one in the options (Node.js). */
  | "no_websocket";

export class RollcallError extends Error {
  override readonly name = "RollcallError";
  /** A server error code (see docs/protocol.md) or a {@link LocalErrorCode}. */
  readonly code: string;
  /** The WebSocket close code, when the error closed the connection (4003 for a bad token). */
  readonly closeCode: number | undefined;
  /**
   * How long the server asked the client to wait before reconnecting (`server_shutdown`'s
   * `reconnect_after_ms`): the first reconnect attempt waits this long instead of its backoff.
   */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, closeCode?: number, retryAfterMs?: number) {
    super(message);
    this.code = code;
    this.closeCode = closeCode;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Server codes after which reconnecting with the same URL cannot succeed. */
export const FATAL_REFUSALS: ReadonlySet<string> = new Set([
  "bad_request",
  "unknown_app",
  "invalid_token",
  "token_expired",
  "anonymous_not_allowed",
]);
