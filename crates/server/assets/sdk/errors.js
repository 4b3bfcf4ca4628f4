// One error class for everything the SDK rejects with. Branch on `code`.
export class RollcallError extends Error {
    name = "RollcallError";
    /** A server error code (see docs/protocol.md) or a {@link LocalErrorCode}. */
    code;
    /** The WebSocket close code, when the error closed the connection (4003 for a bad token). */
    closeCode;
    constructor(code, message, closeCode) {
        super(message);
        this.code = code;
        this.closeCode = closeCode;
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
