// One error class for everything the SDK rejects with. Branch on `code`.
export class RollcallError extends Error {
    name = "RollcallError";
    /** A server error code (see docs/protocol.md) or a {@link LocalErrorCode}. */
    code;
    /** The WebSocket close code, when the error closed the connection (4003 for a bad token). */
    closeCode;
    /**
     * How long the server asked the client to wait before reconnecting (`server_shutdown`'s
     * `reconnect_after_ms`): the first reconnect attempt waits this long instead of its backoff.
     */
    retryAfterMs;
    constructor(code, message, closeCode, retryAfterMs) {
        super(message);
        this.code = code;
        this.closeCode = closeCode;
        this.retryAfterMs = retryAfterMs;
    }
}
/** Server codes after which reconnecting with the same URL cannot succeed. */
export const FATAL_REFUSALS = new Set([
    "bad_request",
    "unknown_app",
    "invalid_token",
    "token_expired",
    "anonymous_not_allowed",
]);
