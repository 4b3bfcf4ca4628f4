// One WebSocket connection from opening to close: the handshake up to the `session` message, and
// requests matched with their answers by id. What happens to channels when it ends is the
// client's business (client.ts).
import { RollcallError } from "./errors.js";
import { parseServerMessage, toSession, } from "./protocol.js";
import { frameText } from "./socket.js";
let linkCounter = 0;
export class Link {
    handlers;
    serial = ++linkCounter;
    session;
    socket;
    pending = new Map();
    nextId = 1;
    ended = false;
    /** The last `error` without id (the reason the server is about to close). */
    lastError;
    /** When a frame last arrived (ms, local clock). */
    lastHeard = Date.now();
    constructor(socket, session, handlers) {
        this.handlers = handlers;
        this.socket = socket;
        this.session = session;
        socket.onmessage = (event) => this.receive(event.data);
        socket.onclose = (event) => this.end(event.code ?? 1006, event.reason ?? "");
        socket.onerror = () => {
            // A close event always follows.
        };
    }
    /**
     * Opens a connection and waits for the `session` message. Rejects with the server's refusal
     * (`invalid_token`, close 4003, …), `connect_failed`, or `timeout`.
     */
    static open(url, WebSocketImpl, timeoutMs, handlers) {
        return new Promise((resolve, reject) => {
            let socket;
            try {
                socket = new WebSocketImpl(url);
            }
            catch (cause) {
                reject(new RollcallError("connect_failed", `cannot open ${redact(url)}: ${describe(cause)}`));
                return;
            }
            let refusal;
            let done = false;
            const finish = (outcome) => {
                if (done)
                    return;
                done = true;
                clearTimeout(timer);
                if (outcome instanceof Link) {
                    resolve(outcome);
                }
                else {
                    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
                    forceClose(socket);
                    reject(outcome);
                }
            };
            const timer = setTimeout(() => {
                finish(new RollcallError("timeout", `no session from ${redact(url)} within ${timeoutMs} ms`));
            }, timeoutMs);
            socket.onopen = null;
            socket.onerror = () => {
                // A close event follows and says more.
            };
            socket.onmessage = (event) => {
                const text = frameText(event.data);
                const message = text === undefined ? undefined : parseServerMessage(text);
                if (!message)
                    return;
                if (message.type === "session") {
                    finish(new Link(socket, toSession(message), handlers));
                }
                else if (message.type === "error") {
                    refusal = new RollcallError(message.code, message.message);
                }
            };
            socket.onclose = (event) => {
                const code = event.code ?? 1006;
                if (refusal) {
                    finish(new RollcallError(refusal.code, refusal.message, code));
                }
                else if (code >= 4000 && event.reason) {
                    // The refusal's error frame was lost, but the close reason is its code.
                    finish(new RollcallError(event.reason, `the server refused the connection: ${event.reason}`, code));
                }
                else {
                    const reason = event.reason ? ` (${event.reason})` : "";
                    finish(new RollcallError("connect_failed", `connection to ${redact(url)} closed before the session: code ${code}${reason}`, code));
                }
            };
        });
    }
    get isOpen() {
        return !this.ended;
    }
    /** Sends a request without waiting for its answer (the answer is ignored). */
    post(op) {
        this.write(op);
    }
    /** Sends a request; resolves with the ack's `result` (or undefined), rejects with its error. */
    request(op, options) {
        return new Promise((resolve, reject) => {
            if (this.ended) {
                reject(new RollcallError("disconnected", "the connection is closed"));
                return;
            }
            const id = this.nextId++;
            const entry = { resolve, reject, onAnswer: options.onAnswer, timer: undefined, settled: false };
            entry.timer = setTimeout(() => {
                entry.timer = undefined;
                entry.settled = true;
                // The entry stays: a late answer must still reach onAnswer.
                reject(new RollcallError("timeout", `no answer to ${String(op["op"])} within ${options.timeoutMs} ms`));
            }, options.timeoutMs);
            this.pending.set(id, entry);
            this.write({ ...op, id });
        });
    }
    /** Closes the connection politely (close 1000). */
    close() {
        try {
            this.socket.close(1000);
        }
        catch {
            // Already closing.
        }
    }
    /** Gives up on the connection at once (it is silent or broken) and reports it closed. */
    abandon(reason) {
        forceClose(this.socket);
        this.end(4008, reason);
    }
    write(op) {
        if (this.ended)
            return;
        try {
            this.socket.send(JSON.stringify(op));
        }
        catch {
            // The socket is closing; its close event will report it.
        }
    }
    receive(data) {
        if (this.ended)
            return;
        this.lastHeard = Date.now();
        const text = frameText(data);
        const message = text === undefined ? undefined : parseServerMessage(text);
        if (!message)
            return;
        switch (message.type) {
            case "ack":
            case "pong":
                this.answer(message);
                return;
            case "error":
                if (message.id === undefined) {
                    const retryAfter = typeof message.reconnect_after_ms === "number" ? message.reconnect_after_ms : undefined;
                    this.lastError = new RollcallError(message.code, message.message, undefined, retryAfter);
                    this.handlers.message(this, message);
                }
                else {
                    this.answer(message);
                }
                return;
            default:
                this.handlers.message(this, message);
        }
    }
    answer(message) {
        if (typeof message.id !== "number")
            return;
        const entry = this.pending.get(message.id);
        if (!entry)
            return;
        this.pending.delete(message.id);
        if (entry.timer !== undefined)
            clearTimeout(entry.timer);
        const answer = message.type === "error"
            ? { ok: false, error: new RollcallError(message.code, message.message) }
            : { ok: true, result: message.type === "ack" ? message.result : undefined };
        entry.onAnswer?.(answer);
        if (entry.settled)
            return;
        entry.settled = true;
        if (answer.ok)
            entry.resolve(answer.result);
        else
            entry.reject(answer.error);
    }
    end(code, reason) {
        if (this.ended)
            return;
        this.ended = true;
        this.socket.onmessage = this.socket.onclose = this.socket.onerror = null;
        const error = new RollcallError("disconnected", `the connection closed (code ${code}) before the answer came`);
        for (const entry of this.pending.values()) {
            if (entry.timer !== undefined)
                clearTimeout(entry.timer);
            if (!entry.settled) {
                entry.settled = true;
                entry.reject(error);
            }
        }
        this.pending.clear();
        const cause = this.lastError
            ? new RollcallError(this.lastError.code, this.lastError.message, code, this.lastError.retryAfterMs)
            : undefined;
        this.handlers.closed(this, code, reason, cause);
    }
}
function forceClose(socket) {
    try {
        if (typeof socket.terminate === "function")
            socket.terminate();
        else
            socket.close();
    }
    catch {
        // Nothing more to do.
    }
}
/** The URL without its token, for messages. */
export function redact(url) {
    return url.replace(/([?&]token=)[^&]*/, "$1…");
}
function describe(cause) {
    return cause instanceof Error ? cause.message : String(cause);
}
