// The WebSocket the client talks through: the platform's (browsers, Deno, Node 22+), or one the
// application passes in (Node 20: the `ws` package). Only the standard WHATWG surface is used.
export function platformWebSocket() {
    const candidate = globalThis.WebSocket;
    return typeof candidate === "function" ? candidate : undefined;
}
/** One text frame's content as a string, or undefined for binary data. */
export function frameText(data) {
    if (typeof data === "string")
        return data;
    return undefined;
}
