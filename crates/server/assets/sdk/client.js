// The client: one connection to a rollcall server, kept alive across network failures, and the
// channels used through it.
import { backoff, backoffDelay } from "./backoff.js";
import { Channel } from "./channel.js";
import { Emitter } from "./emitter.js";
import { FATAL_REFUSALS, RollcallError } from "./errors.js";
import { Invitation } from "./invitation.js";
import { Link } from "./link.js";
import { isSnapshot, isValidChannelName, isValidClientId, toInvitationReply, toMember, } from "./protocol.js";
import { platformWebSocket } from "./socket.js";
function resolveOptions(options) {
    if (options.token !== undefined && options.clientId !== undefined) {
        throw new RollcallError("bad_request", "give either a token or a client id, not both");
    }
    if (options.clientId !== undefined && !isValidClientId(options.clientId)) {
        throw new RollcallError("invalid_client_id", `invalid client id ${JSON.stringify(options.clientId)}`);
    }
    return {
        url: options.url,
        token: options.token,
        clientId: options.clientId,
        appKey: options.appKey,
        WebSocket: options.WebSocket,
        reconnect: options.reconnect === false ? false : backoff(options.reconnect),
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
        publishAckTimeoutMs: options.publishAckTimeoutMs ?? 3_000,
        publishAttempts: Math.max(1, options.publishAttempts ?? 3),
        keepaliveMs: options.keepaliveMs,
        typing: options.typing ?? {},
    };
}
/** The full connection URL, with the identity in the query string. */
export function connectionUrl(base, options) {
    const url = new URL(base.replace(/^http(s?):/i, "ws$1:"));
    if (url.pathname === "" || url.pathname === "/")
        url.pathname = "/ws";
    if (options.appKey !== undefined)
        url.searchParams.set("app", options.appKey);
    if (options.token !== undefined)
        url.searchParams.set("token", options.token);
    if (options.clientId !== undefined)
        url.searchParams.set("client_id", options.clientId);
    return url.toString();
}
const INVITATION_BUFFER = 256;
/**
 * A connection to a rollcall server.
 *
 * ```ts
 * const client = new RollcallClient({ url: "ws://127.0.0.1:7070/ws", clientId: "alice" });
 * await client.connect();
 * const room = client.channel("room-1");
 * await room.enter({ name: "Alice" });
 * ```
 */
export class RollcallClient {
    options;
    emitter = new Emitter();
    channels = new Map();
    currentState = "idle";
    currentSession = null;
    link;
    connecting;
    /** Bumped by close(): work started before it stops. */
    epoch = 0;
    keepalive;
    retry;
    host;
    constructor(options) {
        this.options = resolveOptions(options);
        this.host = {
            options: this.options,
            link: () => (this.link?.isOpen ? this.link : undefined),
            session: () => this.currentSession,
            state: () => this.currentState,
            onState: (listener) => this.emitter.on("state", listener),
        };
    }
    /** Where the connection stands. */
    get state() {
        return this.currentState;
    }
    /** The current session (null before the first connection). Renewed on every reconnect. */
    get session() {
        return this.currentSession;
    }
    /** This connection's client id, once connected. */
    get clientId() {
        return this.currentSession?.clientId ?? this.options.clientId ?? null;
    }
    /** Listens to connection-level events; returns the function that stops listening. */
    on(event, listener) {
        return this.emitter.on(event, listener);
    }
    off(event, listener) {
        this.emitter.off(event, listener);
    }
    /**
     * Connects and waits for the session. The first attempt is made once, so a wrong URL or a bad
     * token fails here (with the server's code: `invalid_token`, `token_expired`,
     * `anonymous_not_allowed`, `unknown_app`, …, and `closeCode` 4003/4001/…); once connected,
     * the client reconnects by itself. Calling it while connected returns the current session.
     */
    connect() {
        if (this.currentState === "connected" && this.currentSession)
            return Promise.resolve(this.currentSession);
        if (this.connecting)
            return this.connecting;
        if (this.currentState === "reconnecting" || this.currentState === "connecting") {
            // The reconnect loop is at work: skip the rest of its backoff and wait for it.
            this.retry?.wake();
            return this.waitConnected();
        }
        const epoch = this.epoch;
        this.setState("connecting", { attempt: 0 });
        const attempt = this.open().then((link) => {
            this.connecting = undefined;
            if (epoch !== this.epoch) {
                link.close();
                throw new RollcallError("closed", "the client was closed while connecting");
            }
            this.attach(link, 0);
            return link.session;
        }, (error) => {
            this.connecting = undefined;
            if (epoch === this.epoch)
                this.setState("closed", { attempt: 0, error });
            throw error;
        });
        this.connecting = attempt;
        return attempt;
    }
    /**
     * Closes the connection and stops reconnecting. Every channel is left (server-side at once;
     * locally their member lists empty and their status becomes `detached`). The channel objects
     * and their listeners stay usable: after `connect()` again, enter or watch them again.
     */
    async close() {
        this.epoch += 1;
        this.connecting = undefined;
        if (this.retry) {
            clearTimeout(this.retry.timer);
            this.retry = undefined;
        }
        this.stopKeepalive();
        const link = this.link;
        this.link = undefined;
        for (const channel of this.channels.values())
            channel.handleClosed();
        if (this.currentState !== "closed" && this.currentState !== "idle")
            this.setState("closed", { attempt: 0 });
        if (link?.isOpen) {
            await new Promise((resolve) => {
                const timer = setTimeout(() => {
                    link.abandon("close timed out");
                    resolve();
                }, 1_000);
                this.linkClosedHook.set(link, () => {
                    clearTimeout(timer);
                    resolve();
                });
                link.close();
            });
        }
    }
    /** The channel object for `name` (the same object each time). Nothing is sent until you enter or watch it. */
    channel(name) {
        let channel = this.channels.get(name);
        if (!channel) {
            if (!isValidChannelName(name)) {
                throw new RollcallError("invalid_channel", `invalid channel name ${JSON.stringify(name)}: 1-200 of A-Z a-z 0-9 - _ = @ , . ; :`);
            }
            channel = new Channel(this.host, name);
            this.channels.set(name, channel);
        }
        return channel;
    }
    /** Asks the server for a channel's members; no subscription needed. Sorted by client id. */
    async members(channel) {
        const result = await this.query({ op: "members", channel: this.checkedChannel(channel) });
        if (!isSnapshot(result))
            throw new RollcallError("invalid_message", "unexpected answer to members");
        return result.members.map(toMember).sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    }
    /** Asks the server for one member of a channel (undefined when absent). */
    async member(channel, clientId) {
        const result = await this.query({
            op: "members",
            channel: this.checkedChannel(channel),
            client_id: checkedClientId(clientId),
        });
        const member = result?.["member"];
        return member ? toMember(member) : undefined;
    }
    /** Asks the server whether `clientId` is a member of `channel`. */
    async isPresent(channel, clientId) {
        const result = await this.query({
            op: "is_present",
            channel: this.checkedChannel(channel),
            client_id: checkedClientId(clientId),
        });
        return result?.["present"] === true;
    }
    /** An application-level round trip; resolves with its duration in ms. */
    async ping() {
        const started = Date.now();
        await this.query({ op: "ping" });
        return Date.now() - started;
    }
    /**
     * The invitations this client receives from now on, as an async iterator (mirroring the Rust
     * SDK's event stream). Up to 256 unread invitations are buffered; older ones are dropped.
     * Leave the loop (or call `return()`) to stop listening.
     */
    invitations() {
        const buffer = [];
        let waiter;
        let done = false;
        const stop = this.emitter.on("invitation", (invitation) => {
            if (waiter) {
                const wake = waiter;
                waiter = undefined;
                wake({ value: invitation, done: false });
            }
            else {
                buffer.push(invitation);
                if (buffer.length > INVITATION_BUFFER)
                    buffer.shift();
            }
        });
        const finish = () => {
            done = true;
            stop();
            buffer.length = 0;
            if (waiter) {
                const wake = waiter;
                waiter = undefined;
                wake({ value: undefined, done: true });
            }
            return { value: undefined, done: true };
        };
        const iterator = {
            next: () => {
                const next = buffer.shift();
                if (next)
                    return Promise.resolve({ value: next, done: false });
                if (done)
                    return Promise.resolve({ value: undefined, done: true });
                return new Promise((resolve) => {
                    waiter = resolve;
                });
            },
            return: () => Promise.resolve(finish()),
            [Symbol.asyncIterator]: () => iterator,
        };
        return iterator;
    }
    // ---- internals ----
    linkClosedHook = new WeakMap();
    checkedChannel(name) {
        if (!isValidChannelName(name))
            throw new RollcallError("invalid_channel", `invalid channel name ${JSON.stringify(name)}`);
        return name;
    }
    async query(op) {
        const link = this.host.link();
        if (!link)
            throw new RollcallError("disconnected", "not connected");
        return link.request(op, { timeoutMs: this.options.requestTimeoutMs });
    }
    waitConnected() {
        return new Promise((resolve, reject) => {
            const stop = this.emitter.on("state", (change) => {
                if (change.state === "connected" && this.currentSession) {
                    stop();
                    resolve(this.currentSession);
                }
                else if (change.state === "closed") {
                    stop();
                    reject(change.error ?? new RollcallError("closed", "the client was closed"));
                }
            });
        });
    }
    async open() {
        const WebSocketImpl = this.options.WebSocket ?? platformWebSocket();
        if (!WebSocketImpl) {
            throw new RollcallError("no_websocket", "no WebSocket implementation: pass one as options.WebSocket (on Node.js 20: `import { WebSocket } from \"ws\"`)");
        }
        let token;
        try {
            token = typeof this.options.token === "function" ? await this.options.token() : this.options.token;
        }
        catch (cause) {
            throw new RollcallError("connect_failed", `the token function failed: ${cause instanceof Error ? cause.message : String(cause)}`);
        }
        const identity = {};
        if (token !== undefined)
            identity.token = token;
        if (this.options.clientId !== undefined)
            identity.clientId = this.options.clientId;
        if (this.options.appKey !== undefined)
            identity.appKey = this.options.appKey;
        let url;
        try {
            url = connectionUrl(this.options.url, identity);
        }
        catch {
            throw new RollcallError("bad_request", `invalid URL ${JSON.stringify(this.options.url)}`);
        }
        return Link.open(url, WebSocketImpl, this.options.connectTimeoutMs, {
            message: (link, message) => this.dispatch(link, message),
            closed: (link, code, _reason, error) => this.linkClosed(link, code, error),
        });
    }
    attach(link, attempt) {
        this.link = link;
        this.currentSession = link.session;
        if (!link.isOpen) {
            this.linkClosed(link, 1006, undefined);
            return;
        }
        this.startKeepalive(link);
        this.setState("connected", { attempt });
        this.emitter.emit("session", link.session);
        for (const channel of this.channels.values())
            channel.handleConnected(link);
    }
    dispatch(link, message) {
        if (link !== this.link)
            return;
        switch (message.type) {
            case "join":
            case "update":
            case "leave":
            case "message":
            case "ephemeral":
                this.channels.get(message.channel)?.handleEvent(link, message);
                return;
            case "invitation":
                this.emitter.emit("invitation", new Invitation(message, (id, data) => this.channel(message.channel).acceptInvitation(id, data), (id) => this.declineInvitation(id)));
                return;
            case "invitation_reply":
                this.emitter.emit("invitation_reply", toInvitationReply(message));
                return;
            case "error":
                this.emitter.emit("error", new RollcallError(message.code, message.message, undefined, message.reconnect_after_ms));
                return;
            default:
                return;
        }
    }
    async declineInvitation(invitationId) {
        await this.query({ op: "invite_reply", invitation_id: invitationId, accept: false });
    }
    linkClosed(link, code, error) {
        this.linkClosedHook.get(link)?.();
        if (link !== this.link)
            return;
        this.link = undefined;
        this.stopKeepalive();
        for (const channel of this.channels.values())
            channel.handleDisconnected();
        const cause = error ?? new RollcallError("disconnected", `the connection closed (code ${code})`, code);
        if (this.options.reconnect === false || FATAL_REFUSALS.has(cause.code)) {
            this.closeForGood(cause);
            return;
        }
        void this.reconnectLoop(this.options.reconnect, cause);
    }
    closeForGood(error) {
        for (const channel of this.channels.values())
            channel.handleClosed(error);
        this.setState("closed", { attempt: 0, error });
    }
    async reconnectLoop(policy, cause) {
        const epoch = this.epoch;
        let error = cause;
        for (let attempt = 1;; attempt++) {
            if (attempt > policy.maxAttempts) {
                this.closeForGood(new RollcallError("closed", `gave up after ${attempt - 1} reconnect attempts: ${error.message}`, error.closeCode));
                return;
            }
            // A stopping server spreads its clients' returns over a window: the first attempt keeps
            // the time it was given, so the clients of one node do not all land on the others at once.
            const hinted = attempt === 1 ? cause.retryAfterMs : undefined;
            const delay = hinted ?? backoffDelay(policy, attempt, Math.random());
            this.setState("reconnecting", { attempt, retryInMs: delay, error });
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, delay);
                this.retry = {
                    timer,
                    wake: () => {
                        clearTimeout(timer);
                        resolve();
                    },
                };
            });
            this.retry = undefined;
            if (epoch !== this.epoch)
                return;
            this.setState("connecting", { attempt });
            try {
                const link = await this.open();
                if (epoch !== this.epoch) {
                    link.close();
                    return;
                }
                this.attach(link, attempt);
                return;
            }
            catch (caught) {
                if (epoch !== this.epoch)
                    return;
                error = caught instanceof RollcallError ? caught : new RollcallError("connect_failed", String(caught));
                // An expired token can be replaced by a token function; other refusals are final.
                const renewable = error.code === "token_expired" && typeof this.options.token === "function";
                if (FATAL_REFUSALS.has(error.code) && !renewable) {
                    this.closeForGood(error);
                    return;
                }
            }
        }
    }
    startKeepalive(link) {
        this.stopKeepalive();
        const session = link.session;
        const every = Math.max(100, this.options.keepaliveMs ?? session.heartbeatIntervalMs);
        const silence = Math.max(session.heartbeatTimeoutMs, session.heartbeatIntervalMs) + 1_000;
        this.keepalive = setInterval(() => {
            if (!link.isOpen)
                return;
            if (Date.now() - link.lastHeard > silence) {
                link.abandon("nothing heard from the server");
                return;
            }
            link.post({ op: "ping" });
        }, every);
    }
    stopKeepalive() {
        if (this.keepalive !== undefined)
            clearInterval(this.keepalive);
        this.keepalive = undefined;
    }
    setState(state, details) {
        const previous = this.currentState;
        this.currentState = state;
        const change = {
            state,
            previous,
            attempt: details.attempt,
        };
        if (details.retryInMs !== undefined)
            change.retryInMs = details.retryInMs;
        if (details.error !== undefined)
            change.error = details.error;
        this.emitter.emit("state", Object.freeze(change));
    }
}
function checkedClientId(id) {
    if (!isValidClientId(id))
        throw new RollcallError("invalid_client_id", `invalid client id ${JSON.stringify(id)}`);
    return id;
}
