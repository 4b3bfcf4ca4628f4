// Typing indicators on top of ephemeral messages: `start()` on every keystroke, `stop()` when the
// text is sent, and a "who is typing" set that empties by itself when a typist goes quiet, leaves
// or disconnects.
//
// Wire format: an `ephemeral` message whose data is `{"$typing": true}` or `{"$typing": false}`.
// While typing, the sender repeats `true` every `refreshMs` (ephemeral messages may be dropped
// for a slow reader, and a receiver forgets a typist after `timeoutMs` without one).
import { reportListenerError } from "./emitter.js";
/** The key of the ephemeral payload that carries a typing indicator. */
export const TYPING_KEY = "$typing";
/** Whether an ephemeral payload is a typing indicator; returns its value. */
export function typingSignal(data) {
    if (typeof data !== "object" || data === null || Array.isArray(data))
        return undefined;
    const value = data[TYPING_KEY];
    return typeof value === "boolean" ? value : undefined;
}
export class Typing {
    host;
    refreshMs;
    idleMs;
    timeoutMs;
    typists = new Map();
    listeners = new Set();
    list = Object.freeze([]);
    typing = false;
    refreshTimer;
    idleTimer;
    constructor(host, options = {}) {
        this.host = host;
        this.refreshMs = Math.max(50, options.refreshMs ?? 2_000);
        this.idleMs = Math.max(50, options.idleMs ?? 4_000);
        this.timeoutMs = Math.max(50, options.timeoutMs ?? 5_000);
    }
    /** Whether this client is currently shown as typing. */
    get isTyping() {
        return this.typing;
    }
    /** The client ids currently typing (not this client), sorted. The same array until it changes. */
    get current() {
        return this.list;
    }
    /**
     * This client is typing. Call it on every keystroke: the indicator is sent at once the first
     * time, then repeated every `refreshMs` while calls keep coming, and stopped `idleMs` after
     * the last call.
     */
    start() {
        if (this.idleTimer !== undefined)
            clearTimeout(this.idleTimer);
        this.idleTimer = setTimeout(() => this.stop(), this.idleMs);
        if (this.typing)
            return;
        this.typing = true;
        this.signal(true);
        this.refreshTimer = setInterval(() => this.signal(true), this.refreshMs);
    }
    /** This client stopped typing (sent its message, cleared the input). */
    stop() {
        if (this.idleTimer !== undefined)
            clearTimeout(this.idleTimer);
        this.idleTimer = undefined;
        if (this.refreshTimer !== undefined)
            clearInterval(this.refreshTimer);
        this.refreshTimer = undefined;
        if (!this.typing)
            return;
        this.typing = false;
        this.signal(false);
    }
    /** Listens to the "who is typing" set; returns the function that stops listening. */
    subscribe(listener) {
        this.listeners.add(listener);
        return () => {
            this.listeners.delete(listener);
        };
    }
    unsubscribeAll() {
        this.listeners.clear();
    }
    // ---- fed by the channel ----
    /** @internal An indicator arrived. */
    received(clientId, connectionId, typing) {
        if (clientId === null || clientId === this.host.ownClientId())
            return;
        const existing = this.typists.get(clientId);
        if (existing)
            clearTimeout(existing.timer);
        if (!typing) {
            if (existing)
                this.drop(clientId);
            return;
        }
        const timer = setTimeout(() => this.drop(clientId), this.timeoutMs);
        this.typists.set(clientId, { connectionId, timer });
        if (!existing)
            this.changed();
    }
    /** @internal The client left the channel (its last connection). */
    memberLeft(clientId) {
        if (this.typists.has(clientId))
            this.drop(clientId);
    }
    /** @internal One of a member's connections went away: if it was the typing one, it stopped. */
    connectionRemoved(clientId, connectionId) {
        if (this.typists.get(clientId)?.connectionId === connectionId)
            this.drop(clientId);
    }
    /** @internal This client lost its connection or left: nobody is known to be typing. */
    clearOthers() {
        if (this.typists.size === 0)
            return;
        for (const typist of this.typists.values())
            clearTimeout(typist.timer);
        this.typists.clear();
        this.changed();
    }
    /** @internal The channel was left: stop everything, silently. */
    halt() {
        if (this.idleTimer !== undefined)
            clearTimeout(this.idleTimer);
        if (this.refreshTimer !== undefined)
            clearInterval(this.refreshTimer);
        this.idleTimer = this.refreshTimer = undefined;
        this.typing = false;
        this.clearOthers();
    }
    drop(clientId) {
        const typist = this.typists.get(clientId);
        if (!typist)
            return;
        clearTimeout(typist.timer);
        this.typists.delete(clientId);
        this.changed();
    }
    signal(typing) {
        this.host.send(typing).catch(() => {
            // Typing indicators are best-effort: the next refresh (or the receivers' timeout) fixes it.
        });
    }
    changed() {
        this.list = Object.freeze([...this.typists.keys()].sort());
        for (const listener of [...this.listeners]) {
            try {
                listener(this.list);
            }
            catch (error) {
                reportListenerError(error);
            }
        }
    }
}
