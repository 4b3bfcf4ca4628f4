// One channel as this client uses it: presence (enter / update / leave), the local member list
// kept exact from snapshots plus sequence-checked events, messages, ephemeral messages and typing.
//
// Requests and events travel in one ordered stream per connection, so the state here follows the
// answers in the order they arrive: every answer that changes what the server considers this
// connection's subscription is applied synchronously, in stream order (`onAnswer`), never after
// an `await`, so no event can slip in between.
import { Emitter, reportListenerError } from "./emitter.js";
import { RollcallError } from "./errors.js";
import { MemberList } from "./members.js";
import { mergePatch } from "./merge-patch.js";
import { isSnapshot, isValidClientId, toMember, } from "./protocol.js";
import { SequenceTracker } from "./sequence.js";
import { Typing, TYPING_KEY, typingSignal } from "./typing.js";
/** How many recent message ids are remembered to drop repeats of a retried publish. */
const RECENT_MESSAGES = 512;
function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
function satisfies(have, want) {
    return have === want || (have === "join" && want === "watch");
}
export function randomId() {
    const bytes = new Uint8Array(16);
    const crypto = globalThis.crypto;
    if (crypto?.getRandomValues)
        crypto.getRandomValues(bytes);
    else
        for (let i = 0; i < bytes.length; i++)
            bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export class Channel {
    name;
    /** Messages: `publish` and `subscribe`. */
    messages;
    /** Ephemeral messages (cursors, …): unsequenced, droppable. Typing indicators are not listed here. */
    ephemeral;
    /** Typing indicators. */
    typing;
    host;
    emitter = new Emitter();
    presenceListeners = new Set();
    /** @internal */
    messageEmitter = new Emitter();
    list = new MemberList();
    /** Sequence bookkeeping for the current subscription; replaced when it ends. */
    tracker = new SequenceTracker();
    /** Gaps counted by earlier trackers. */
    gapsBefore = 0;
    /** What the application asked for. */
    desired = null;
    /** The data to (re-)enter with: the latest known data of this client's member. */
    entryData;
    /** What the server has for this connection, as of the answers processed so far. */
    serverMode = null;
    /** Bumped by every subscribe/leave request: only the latest one's answer counts. */
    opCounter = 0;
    /** True once a snapshot has been applied since the last enter/watch from detached. */
    attachedBefore = false;
    resyncing = false;
    /** The next snapshot re-subscribes after a reconnect. */
    afterReconnect = false;
    rebaseNext = false;
    holdTimer;
    waiters = [];
    currentStatus = "detached";
    lastError;
    cachedSnapshot;
    recentMessages = new Set();
    /** @internal Use `client.channel(name)`. */
    constructor(host, name) {
        this.host = host;
        this.name = name;
        this.messages = new ChannelMessages(this);
        this.ephemeral = new ChannelEphemeral(this);
        this.typing = new Typing({
            send: (typing) => this.sendEphemeral({ [TYPING_KEY]: typing }, false),
            ownClientId: () => this.host.session()?.clientId ?? null,
        }, host.options.typing);
    }
    // ---- reading the member list (synchronous, local) ----
    get status() {
        return this.currentStatus;
    }
    /** Why the channel is `failed`, or the last refusal. */
    get error() {
        return this.lastError;
    }
    /** `join` when entered, `watch` when only watching, null when detached. */
    get mode() {
        return this.desired;
    }
    /** How many members the channel has. */
    get count() {
        return this.list.size;
    }
    /** The sequence number the member list is current at (for diagnostics). */
    get seq() {
        return this.tracker.seq;
    }
    /** How many sequence gaps (each followed by a resync) were seen on this channel. */
    get gapCount() {
        return this.gapsBefore + this.tracker.gapCount;
    }
    get(clientId) {
        return clientId === undefined ? this.list.all() : this.list.get(clientId);
    }
    /** Whether `clientId` is a member, by the local list (no round trip). */
    isPresent(clientId) {
        return this.list.has(clientId);
    }
    /** Members, count and status in one object; a new object after every change. */
    snapshot() {
        if (!this.cachedSnapshot) {
            this.cachedSnapshot = Object.freeze({
                members: this.list.all(),
                count: this.list.size,
                status: this.currentStatus,
            });
        }
        return this.cachedSnapshot;
    }
    // ---- presence ----
    /**
     * Enters the channel's presence (subscribing to it) with member `data`, and resolves with the
     * member list once attached. Without data, a new member starts with `{}` and a member present
     * through another device keeps its data. Entering again while entered replaces the data (as
     * `update`). After a reconnect the channel is entered again with the latest data.
     */
    enter(data) {
        if (data !== undefined && !isObject(data)) {
            return Promise.reject(new RollcallError("invalid_data", "member data must be a JSON object"));
        }
        if (this.desired === "join") {
            const ready = this.ready("join");
            return data === undefined ? ready : this.update(data).then(() => this.list.all());
        }
        return this.subscribeAs("join", data, undefined);
    }
    /** Subscribes to the channel's presence events and messages without entering presence. */
    watch() {
        if (this.desired === "join") {
            return Promise.reject(new RollcallError("already_subscribed", `${this.name} is entered; leave it first to only watch it`));
        }
        if (this.desired === "watch")
            return this.ready("watch");
        return this.subscribeAs("watch", undefined, undefined);
    }
    /**
     * Replaces this member's data, or with `{ merge: true }` applies `data` as a JSON merge patch
     * (RFC 7396: keys are set, `null` removes a key). Other members (and this client) receive an
     * `update` event; nothing is sent when the data does not change (`changed: false`).
     */
    async update(data, options = {}) {
        if (!isObject(data))
            throw new RollcallError("invalid_data", "member data must be a JSON object");
        if (this.desired !== "join")
            throw new RollcallError("not_joined", `${this.name} is not entered`);
        const merge = options.merge === true;
        const previous = this.entryData;
        // The data a re-entry would carry: kept in step with the server's copy by every event, and
        // ahead of it by the updates still on their way.
        this.entryData = merge ? mergePatch(this.entryData ?? this.ownData() ?? {}, data) : data;
        const link = await this.readyLink("join");
        try {
            const result = await link.request(merge ? { op: "update", channel: this.name, patch: data } : { op: "update", channel: this.name, data }, { timeoutMs: this.host.options.requestTimeoutMs });
            return { seq: Number(result?.["seq"] ?? 0), changed: result?.["changed"] === true };
        }
        catch (error) {
            if (error instanceof RollcallError && error.code !== "timeout" && error.code !== "disconnected") {
                this.entryData = this.ownData() ?? previous;
            }
            throw error;
        }
    }
    /** `update(patch, { merge: true })`. */
    patch(patch) {
        return this.update(patch, { merge: true });
    }
    /**
     * Leaves presence and unsubscribes. Others see `leave` (or an `update` when this client stays
     * present through another device). The local member list is emptied.
     */
    async leave() {
        const wasSubscribed = this.serverMode !== null || this.desired !== null;
        this.desired = null;
        this.entryData = undefined;
        this.attachedBefore = false;
        this.rejectWaiters(new RollcallError("not_subscribed", `${this.name} was left`));
        const link = this.host.link();
        this.opCounter += 1;
        this.unsubscribedLocally();
        this.setStatus("detached");
        if (!link || !wasSubscribed)
            return;
        try {
            await link.request({ op: "leave", channel: this.name }, { timeoutMs: this.host.options.requestTimeoutMs });
        }
        catch (error) {
            // Not subscribed (a refused enter) or disconnected: left all the same.
            if (error instanceof RollcallError && (error.code === "not_subscribed" || error.code === "disconnected"))
                return;
            throw error;
        }
    }
    subscribe(first, second) {
        const listener = typeof first === "function" ? first : second;
        if (!listener)
            throw new TypeError("subscribe needs a listener");
        const actions = typeof first === "function" ? null : new Set(typeof first === "string" ? [first] : first);
        const subscription = { listener, actions };
        this.presenceListeners.add(subscription);
        return () => {
            this.presenceListeners.delete(subscription);
        };
    }
    unsubscribe(first, second) {
        const listener = typeof first === "function" ? first : second;
        const only = typeof first === "function" ? null : new Set(typeof first === "string" ? [first] : first);
        for (const subscription of [...this.presenceListeners]) {
            if (subscription.listener !== listener)
                continue;
            this.presenceListeners.delete(subscription);
            if (only) {
                const remaining = [...(subscription.actions ?? ["join", "update", "leave"])].filter((a) => !only.has(a));
                if (remaining.length > 0)
                    this.presenceListeners.add({ listener, actions: new Set(remaining) });
            }
        }
    }
    /** Removes every presence listener of this channel. */
    unsubscribeAll() {
        this.presenceListeners.clear();
    }
    /** Listens to `status`, `change` or `resync`. */
    on(event, listener) {
        return this.emitter.on(event, listener);
    }
    /** Invites `clientId` to this channel. The answer arrives as the client's `invitation_reply` event. */
    async invite(clientId, data) {
        if (!isValidClientId(clientId))
            throw new RollcallError("invalid_client_id", `invalid client id ${JSON.stringify(clientId)}`);
        const link = await this.readyLink("watch");
        const op = { op: "invite", channel: this.name, client_id: clientId };
        if (data !== undefined)
            op["data"] = data;
        const result = await link.request(op, { timeoutMs: this.host.options.requestTimeoutMs });
        return { invitationId: String(result?.["invitation_id"]), delivered: Number(result?.["delivered"] ?? 0) };
    }
    // ---- internals used by the sub-APIs ----
    /** @internal */
    async publish(data, options) {
        const messageId = options.messageId ?? randomId();
        const echo = options.echo ?? true;
        const { publishAttempts, publishAckTimeoutMs } = this.host.options;
        for (let attempts = 1;; attempts++) {
            const link = await this.readyLink("watch");
            const op = { op: "publish", channel: this.name, data, echo, message_id: messageId };
            const tracker = this.tracker;
            // An un-echoed message takes a sequence number this connection never sees as an event;
            // the ack names it. Registered in the same tick as the send, so no event comes between.
            if (!echo)
                tracker.publishSent();
            const sent = link.request(op, {
                timeoutMs: publishAckTimeoutMs,
                onAnswer: echo ? undefined : (answer) => this.ownPublishAnswered(link, tracker, answer),
            });
            try {
                const result = await sent;
                return {
                    messageId,
                    seq: Number(result?.["seq"] ?? 0),
                    duplicate: result?.["duplicate"] === true,
                    attempts,
                };
            }
            catch (error) {
                const retry = error instanceof RollcallError &&
                    (error.code === "timeout" || error.code === "disconnected") &&
                    attempts < publishAttempts;
                if (!retry)
                    throw error;
            }
        }
    }
    /** @internal */
    async sendEphemeral(data, echo) {
        const link = this.host.link();
        if (!link || this.serverMode === null) {
            throw new RollcallError("not_subscribed", `${this.name} is not attached`);
        }
        await link.request({ op: "ephemeral", channel: this.name, data, echo }, { timeoutMs: this.host.options.requestTimeoutMs });
    }
    /** @internal Called by an invitation's accept(). */
    acceptInvitation(invitationId, data) {
        if (!this.host.link())
            return Promise.reject(new RollcallError("disconnected", "not connected"));
        return this.subscribeAs("join", data, invitationId).then(() => this);
    }
    // ---- driven by the client ----
    /** @internal A connection (first or new) is up: subscribe again if wanted. */
    handleConnected(link) {
        if (this.desired === null)
            return;
        this.afterReconnect = this.attachedBefore;
        this.sendSubscribe(link, undefined);
    }
    /** @internal The connection was lost; a reconnect follows. The member list is kept for reconciling. */
    handleDisconnected() {
        this.serverMode = null;
        this.opCounter += 1;
        this.resetSequence();
        this.typing.clearOthers();
        if (this.desired !== null)
            this.setStatus(this.attachedBefore ? "suspended" : "attaching");
    }
    /** @internal The client closed (or was refused for good): everything is left. */
    handleClosed(error) {
        const wasActive = this.desired !== null;
        this.desired = null;
        this.entryData = undefined;
        this.attachedBefore = false;
        this.opCounter += 1;
        this.rejectWaiters(error ?? new RollcallError("closed", "the client was closed"));
        this.unsubscribedLocally();
        this.typing.halt();
        if (error && wasActive)
            this.lastError = error;
        this.setStatus(error && wasActive ? "failed" : "detached", error);
    }
    /** @internal An event of this channel arrived on the current connection. */
    handleEvent(link, message) {
        if (this.serverMode === null)
            return;
        if (message.type === "ephemeral") {
            this.deliverEphemeral(message);
            return;
        }
        if (this.rebaseNext) {
            this.rebaseNext = false;
            this.tracker.base(message.seq - 1);
        }
        this.process(link, this.tracker.event(message.seq, message));
    }
    // ---- private ----
    subscribeAs(mode, data, invitationId) {
        const previousDesired = this.desired;
        this.desired = mode;
        this.entryData = mode === "join" ? data : undefined;
        this.lastError = undefined;
        if (previousDesired === null)
            this.attachedBefore = false;
        const waiting = this.waitFor(mode);
        const link = this.host.link();
        if (link)
            this.sendSubscribe(link, invitationId);
        else if (this.currentStatus !== "suspended")
            this.setStatus("attaching");
        return waiting;
    }
    sendSubscribe(link, invitationId) {
        const mode = this.desired;
        if (mode === null)
            return;
        const op = invitationId !== undefined
            ? { op: "invite_reply", invitation_id: invitationId, accept: true }
            : { op: mode, channel: this.name };
        if (mode === "join" && this.entryData !== undefined)
            op["data"] = this.entryData;
        const ticket = ++this.opCounter;
        if (!satisfies(this.serverMode, mode))
            this.setStatus("attaching");
        link
            .request(op, {
            timeoutMs: this.host.options.requestTimeoutMs,
            onAnswer: (answer) => this.subscribeAnswered(link, ticket, mode, answer, invitationId),
        })
            .catch((error) => {
            // Answers are handled in onAnswer; a timeout means the server never answered.
            if (error.code === "timeout" && ticket === this.opCounter)
                this.rejectWaiters(error, mode);
        });
    }
    subscribeAnswered(link, ticket, mode, answer, invitationId) {
        if (link !== this.host.link() || ticket !== this.opCounter)
            return;
        if (answer.ok && isSnapshot(answer.result)) {
            const snapshot = answer.result;
            this.serverMode = mode;
            this.resyncing = false;
            this.rebaseNext = false;
            this.clearHold();
            const missed = this.tracker.base(snapshot.seq);
            const members = snapshot.members.map(toMember);
            const quiet = !this.attachedBefore;
            this.attachedBefore = true;
            this.deliverMissed(missed);
            this.noteOwnData(members);
            if (quiet) {
                this.list.reconcile(this.name, members);
                this.invalidate();
            }
            else {
                this.replaceMembers(members, this.afterReconnect ? "reconnected" : "resubscribed");
            }
            this.afterReconnect = false;
            if (!this.setStatus("attached"))
                this.emitter.emit("change", this.snapshot());
            this.settleWaiters();
            return;
        }
        const error = answer.ok ? new RollcallError("invalid_message", `unexpected answer to ${mode}`) : answer.error;
        this.lastError = error;
        if (invitationId !== undefined || this.serverMode !== null) {
            // A refused upgrade (watch → join) or invitation: what was there stays.
            this.desired = this.serverMode;
            this.rejectWaiters(error, mode);
            if (this.desired === null) {
                this.unsubscribedLocally();
                this.setStatus("detached", error);
            }
            else {
                this.setStatus("attached");
            }
            return;
        }
        const wasAttached = this.attachedBefore;
        this.desired = null;
        this.entryData = undefined;
        this.attachedBefore = false;
        this.rejectWaiters(error);
        this.unsubscribedLocally();
        this.setStatus(wasAttached ? "failed" : "detached", error);
    }
    ownPublishAnswered(link, tracker, answer) {
        if (link !== this.host.link() || tracker !== this.tracker)
            return;
        const seq = answer.ok && answer.result?.["duplicate"] !== true ? answer.result?.["seq"] : undefined;
        this.process(link, tracker.publishAnswered(typeof seq === "number" ? seq : undefined));
    }
    process(link, steps) {
        for (const step of steps) {
            if (step.kind === "apply")
                this.apply(step.item);
            else if (step.item.type === "message")
                this.deliverMessage(step.item);
            // A missed member event is covered by the fresh member list that is on its way.
        }
        if (this.tracker.isHolding)
            this.armHold(link);
        else
            this.clearHold();
        if (this.tracker.isBroken && !this.resyncing)
            this.resync(link);
    }
    apply(event) {
        if (event.type === "message") {
            this.deliverMessage(event);
            return;
        }
        const member = toMember(event.member);
        let presence;
        if (event.type === "leave") {
            const previous = this.list.remove(member.clientId);
            presence = {
                action: "leave",
                channel: this.name,
                clientId: member.clientId,
                member,
                ...(previous ? { previous } : {}),
                connectionId: event.connection_id,
                ts: event.ts,
                seq: event.seq,
            };
            this.typing.memberLeft(member.clientId);
        }
        else {
            const previous = this.list.put(member);
            const base = {
                channel: this.name,
                clientId: member.clientId,
                member,
                connectionId: event.connection_id,
                ts: event.ts,
                seq: event.seq,
            };
            if (event.type === "join") {
                presence = { action: "join", ...base };
            }
            else {
                const reason = event.reason ?? "data";
                presence = { action: "update", ...base, reason, ...(previous ? { previous } : {}) };
                if (reason === "connection_removed")
                    this.typing.connectionRemoved(member.clientId, event.connection_id);
            }
            this.noteOwnData([member]);
        }
        this.invalidate();
        this.emitPresence(Object.freeze(presence));
        this.emitter.emit("change", this.snapshot());
    }
    /** Starts a resync after a gap: a fresh member list, compared with the local one. */
    resync(link) {
        this.resyncing = true;
        const ticket = this.opCounter;
        const tracker = this.tracker;
        link
            .request({ op: "members", channel: this.name }, {
            timeoutMs: this.host.options.requestTimeoutMs,
            onAnswer: (answer) => {
                if (link !== this.host.link() || ticket !== this.opCounter || tracker !== this.tracker)
                    return;
                if (this.serverMode === null || !this.resyncing)
                    return;
                this.resyncing = false;
                if (answer.ok && isSnapshot(answer.result)) {
                    this.deliverMissed(tracker.base(answer.result.seq));
                    const members = answer.result.members.map(toMember);
                    this.noteOwnData(members);
                    this.replaceMembers(members, "gap");
                }
                else {
                    // Carry on from the next event rather than asking again in a loop.
                    this.rebaseNext = true;
                }
            },
        })
            .catch(() => {
            // Handled in onAnswer, or the connection is gone (a reconnect resubscribes).
        });
    }
    replaceMembers(members, cause) {
        const events = this.list.reconcile(this.name, members);
        this.invalidate();
        for (const event of events) {
            if (event.action === "leave")
                this.typing.memberLeft(event.clientId);
            this.emitPresence(Object.freeze(event));
        }
        if (events.length > 0)
            this.emitter.emit("change", this.snapshot());
        this.emitter.emit("resync", Object.freeze({ cause, members: this.list.size, changes: events.length }));
    }
    deliverMissed(steps) {
        for (const step of steps)
            if (step.item.type === "message")
                this.deliverMessage(step.item);
    }
    deliverMessage(event) {
        if (event.message_id !== undefined) {
            const key = `${event.client_id ?? event.connection_id}\u0000${event.message_id}`;
            if (this.recentMessages.has(key))
                return;
            this.recentMessages.add(key);
            if (this.recentMessages.size > RECENT_MESSAGES) {
                const oldest = this.recentMessages.values().next().value;
                if (oldest !== undefined)
                    this.recentMessages.delete(oldest);
            }
        }
        const message = Object.freeze({
            channel: this.name,
            seq: event.seq,
            ts: event.ts,
            clientId: event.client_id,
            connectionId: event.connection_id,
            ...(event.message_id !== undefined ? { messageId: event.message_id } : {}),
            data: event.data,
        });
        this.messageEmitter.emit("message", message);
    }
    deliverEphemeral(event) {
        const typing = typingSignal(event.data);
        if (typing !== undefined) {
            this.typing.received(event.client_id, event.connection_id, typing);
            return;
        }
        this.messageEmitter.emit("ephemeral", Object.freeze({
            channel: this.name,
            ts: event.ts,
            clientId: event.client_id,
            connectionId: event.connection_id,
            data: event.data,
        }));
    }
    emitPresence(event) {
        for (const subscription of [...this.presenceListeners]) {
            if (subscription.actions && !subscription.actions.has(event.action))
                continue;
            try {
                subscription.listener(event);
            }
            catch (error) {
                reportListenerError(error);
            }
        }
    }
    /** Keeps the data a re-entry will carry in step with this client's member as the server has it. */
    noteOwnData(members) {
        if (this.desired !== "join")
            return;
        const own = this.host.session()?.clientId;
        if (!own)
            return;
        const mine = members.find((m) => m.clientId === own);
        if (mine)
            this.entryData = mine.data;
    }
    ownData() {
        const own = this.host.session()?.clientId;
        return (own ? this.list.get(own)?.data : undefined) ?? this.entryData;
    }
    unsubscribedLocally() {
        this.serverMode = null;
        this.resyncing = false;
        this.rebaseNext = false;
        this.resetSequence();
        this.typing.halt();
        if (this.list.size > 0) {
            this.list.clear();
            this.invalidate();
            this.emitter.emit("change", this.snapshot());
        }
    }
    resetSequence() {
        this.clearHold();
        this.deliverMissed(this.tracker.reset());
        this.gapsBefore += this.tracker.gapCount;
        this.tracker = new SequenceTracker();
    }
    armHold(link) {
        if (this.holdTimer !== undefined)
            return;
        const tracker = this.tracker;
        this.holdTimer = setTimeout(() => {
            this.holdTimer = undefined;
            if (tracker !== this.tracker || link !== this.host.link())
                return;
            this.process(link, tracker.giveUp());
        }, this.host.options.requestTimeoutMs);
    }
    clearHold() {
        if (this.holdTimer !== undefined)
            clearTimeout(this.holdTimer);
        this.holdTimer = undefined;
    }
    /** Waits until attached in `mode` (or better), on the current connection. */
    ready(mode) {
        if (!satisfies(this.desired, mode)) {
            return Promise.reject(new RollcallError(mode === "join" ? "not_joined" : "not_subscribed", `${this.name} is not ${mode === "join" ? "entered" : "entered or watched"}`));
        }
        if (this.host.link() && satisfies(this.serverMode, mode) && this.currentStatus === "attached") {
            return Promise.resolve(this.list.all());
        }
        return this.waitFor(mode);
    }
    async readyLink(mode) {
        await this.ready(mode);
        const link = this.host.link();
        if (!link)
            throw new RollcallError("disconnected", "not connected");
        return link;
    }
    waitFor(mode) {
        return new Promise((resolve, reject) => {
            let timer;
            let stopWatchingState;
            const cleanup = () => {
                if (timer !== undefined)
                    clearTimeout(timer);
                stopWatchingState?.();
                this.waiters = this.waiters.filter((w) => w !== waiter);
            };
            const waiter = {
                mode,
                resolve: (members) => {
                    cleanup();
                    resolve(members);
                },
                reject: (error) => {
                    cleanup();
                    reject(error);
                },
            };
            this.waiters.push(waiter);
            // The request timeout runs while connected; waiting for a connection is bounded by the
            // reconnect policy (the client closes when it gives up, which rejects this).
            const arm = () => {
                if (timer === undefined) {
                    timer = setTimeout(() => {
                        waiter.reject(new RollcallError("timeout", `${this.name} was not attached within ${this.host.options.requestTimeoutMs} ms`));
                    }, this.host.options.requestTimeoutMs);
                }
            };
            if (this.host.link())
                arm();
            else {
                stopWatchingState = this.host.onState((change) => {
                    if (change.state === "connected")
                        arm();
                });
            }
        });
    }
    settleWaiters() {
        for (const waiter of [...this.waiters]) {
            if (satisfies(this.serverMode, waiter.mode))
                waiter.resolve(this.list.all());
        }
    }
    rejectWaiters(error, mode) {
        for (const waiter of [...this.waiters]) {
            if (mode === undefined || waiter.mode === mode)
                waiter.reject(error);
        }
    }
    /** Returns false when the status was already `status`. */
    setStatus(status, error) {
        if (status === this.currentStatus)
            return false;
        const previous = this.currentStatus;
        this.currentStatus = status;
        this.invalidate();
        this.emitter.emit("status", Object.freeze({ status, previous, ...(error ? { error } : {}) }));
        this.emitter.emit("change", this.snapshot());
        return true;
    }
    invalidate() {
        this.cachedSnapshot = undefined;
    }
}
/** A channel's messages. */
export class ChannelMessages {
    channel;
    constructor(channel) {
        this.channel = channel;
    }
    /**
     * Publishes `data` (any JSON value) to every subscriber of the channel, this connection
     * included unless `echo: false`. Waits for the server's ack; a late ack makes it send again
     * with the same message id (the server delivers a message id once per sender and channel).
     */
    publish(data, options = {}) {
        return this.channel.publish(data, options);
    }
    /** Listens to the channel's messages; returns the function that stops listening. */
    subscribe(listener) {
        return this.channel.messageEmitter.on("message", listener);
    }
    unsubscribe(listener) {
        this.channel.messageEmitter.off("message", listener);
    }
    unsubscribeAll() {
        this.channel.messageEmitter.clear("message");
    }
}
/** A channel's ephemeral messages. */
export class ChannelEphemeral {
    channel;
    constructor(channel) {
        this.channel = channel;
    }
    /** Sends an ephemeral message: not sequenced, not retried, skipped for readers that are behind. */
    send(data, options = {}) {
        return this.channel.sendEphemeral(data, options.echo ?? false);
    }
    subscribe(listener) {
        return this.channel.messageEmitter.on("ephemeral", listener);
    }
    unsubscribeAll() {
        this.channel.messageEmitter.clear("ephemeral");
    }
}
