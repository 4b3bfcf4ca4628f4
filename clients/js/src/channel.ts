// One channel as this client uses it: presence (enter / update / leave), the local member list
// kept exact from snapshots plus sequence-checked events, messages, ephemeral messages and typing.
//
// Requests and events travel in one ordered stream per connection, so the state here follows the
// answers in the order they arrive: every answer that changes what the server considers this
// connection's subscription is applied synchronously, in stream order (`onAnswer`), never after
// an `await`, so no event can slip in between.

import { Emitter, reportListenerError } from "./emitter.js";
import { RollcallError } from "./errors.js";
import type { Answer, Link } from "./link.js";
import { MemberList } from "./members.js";
import { mergePatch } from "./merge-patch.js";
import {
  isSnapshot,
  isValidClientId,
  toMember,
  type Json,
  type WireEphemeral,
  type WireMemberEvent,
  type WireMessage,
} from "./protocol.js";
import { SequenceTracker, type Step } from "./sequence.js";
import { Typing, TYPING_KEY, typingSignal, type TypingOptions } from "./typing.js";
import type {
  EphemeralMessage,
  Invited,
  Member,
  MemberData,
  Message,
  PresenceAction,
  PresenceEvent,
  Published,
  Session,
  Unsubscribe,
  Updated,
} from "./types.js";
import type { ConnectionState, ConnectionStateChange } from "./client.js";

/**
 * - `detached`: not entered or watched (or left).
 * - `attaching`: the enter/watch request is on its way (or waits for the connection).
 * - `attached`: subscribed; the member list is live.
 * - `suspended`: the connection was lost; the channel is entered or watched again on reconnect,
 *   and the member list (kept meanwhile) is then reconciled.
 * - `failed`: the server refused to subscribe again after a reconnect (see `channel.error`).
 */
export type ChannelStatus = "detached" | "attaching" | "attached" | "suspended" | "failed";

export interface ChannelStatusChange {
  readonly status: ChannelStatus;
  readonly previous: ChannelStatus;
  readonly error?: RollcallError;
}

/** Why the member list was replaced by a fresh one from the server. */
export interface ResyncInfo {
  /**
   * `gap`: events were missed (a sequence gap); `reconnected`: entered or watched again after a
   * reconnect; `resubscribed`: entered while watching.
   */
  readonly cause: "gap" | "reconnected" | "resubscribed";
  /** How many members the channel has now. */
  readonly members: number;
  /** How many presence events the comparison produced (only real changes). */
  readonly changes: number;
}

/** What `usePresence` and other observers read: replaced (new object) on every change. */
export interface ChannelSnapshot {
  readonly members: readonly Member[];
  readonly count: number;
  readonly status: ChannelStatus;
}

export interface ChannelEvents {
  /** The channel's status changed. */
  status: ChannelStatusChange;
  /** The member list or the status changed. */
  change: ChannelSnapshot;
  /** The member list was replaced by a fresh one, after the events that explain the difference. */
  resync: ResyncInfo;
}

export interface PublishOptions {
  /** Whether this connection receives its own message too. Default true. */
  echo?: boolean;
  /** The message id; by default a random one. Reuse an id only to resend the same message. */
  messageId?: string;
}

/** @internal What a channel needs from its client. */
export interface ChannelHost {
  readonly options: {
    readonly requestTimeoutMs: number;
    readonly publishAckTimeoutMs: number;
    readonly publishAttempts: number;
    readonly typing: TypingOptions;
  };
  link(): Link | undefined;
  session(): Session | null;
  state(): ConnectionState;
  onState(listener: (change: ConnectionStateChange) => void): Unsubscribe;
}

type Mode = "join" | "watch";
type SequencedEvent = WireMemberEvent | WireMessage;
type PresenceListener = (event: PresenceEvent) => void;

interface PresenceSubscription {
  readonly listener: PresenceListener;
  readonly actions: ReadonlySet<PresenceAction> | null;
}

interface Waiter {
  readonly mode: Mode;
  resolve(members: readonly Member[]): void;
  reject(error: RollcallError): void;
}

/** How many recent message ids are remembered to drop repeats of a retried publish. */
const RECENT_MESSAGES = 512;

function isObject(value: unknown): value is MemberData {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function satisfies(have: Mode | null, want: Mode): boolean {
  return have === want || (have === "join" && want === "watch");
}

export function randomId(): string {
  const bytes = new Uint8Array(16);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (array: Uint8Array) => Uint8Array } }).crypto;
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Channel {
  readonly name: string;
  /** Messages: `publish` and `subscribe`. */
  readonly messages: ChannelMessages;
  /** Ephemeral messages (cursors, …): unsequenced, droppable. Typing indicators are not listed here. */
  readonly ephemeral: ChannelEphemeral;
  /** Typing indicators. */
  readonly typing: Typing;

  private readonly host: ChannelHost;
  private readonly emitter = new Emitter<ChannelEvents>();
  private readonly presenceListeners = new Set<PresenceSubscription>();
  /** @internal */
  readonly messageEmitter = new Emitter<{ message: Message; ephemeral: EphemeralMessage }>();
  private readonly list = new MemberList();
  /** Sequence bookkeeping for the current subscription; replaced when it ends. */
  private tracker = new SequenceTracker<SequencedEvent>();
  /** Gaps counted by earlier trackers. */
  private gapsBefore = 0;

  /** What the application asked for. */
  private desired: Mode | null = null;
  /** The data to (re-)enter with: the latest known data of this client's member. */
  private entryData: MemberData | undefined;
  /** What the server has for this connection, as of the answers processed so far. */
  private serverMode: Mode | null = null;
  /** Bumped by every subscribe/leave request: only the latest one's answer counts. */
  private opCounter = 0;
  /** True once a snapshot has been applied since the last enter/watch from detached. */
  private attachedBefore = false;
  private resyncing = false;
  /** The next snapshot re-subscribes after a reconnect. */
  private afterReconnect = false;
  private rebaseNext = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  private waiters: Waiter[] = [];
  private currentStatus: ChannelStatus = "detached";
  private lastError: RollcallError | undefined;
  private cachedSnapshot: ChannelSnapshot | undefined;
  private readonly recentMessages = new Set<string>();

  /** @internal Use `client.channel(name)`. */
  constructor(host: ChannelHost, name: string) {
    this.host = host;
    this.name = name;
    this.messages = new ChannelMessages(this);
    this.ephemeral = new ChannelEphemeral(this);
    this.typing = new Typing(
      {
        send: (typing) => this.sendEphemeral({ [TYPING_KEY]: typing }, false),
        ownClientId: () => this.host.session()?.clientId ?? null,
      },
      host.options.typing,
    );
  }

  // ---- reading the member list (synchronous, local) ----

  get status(): ChannelStatus {
    return this.currentStatus;
  }

  /** Why the channel is `failed`, or the last refusal. */
  get error(): RollcallError | undefined {
    return this.lastError;
  }

  /** `join` when entered, `watch` when only watching, null when detached. */
  get mode(): Mode | null {
    return this.desired;
  }

  /** How many members the channel has. */
  get count(): number {
    return this.list.size;
  }

  /** The sequence number the member list is current at (for diagnostics). */
  get seq(): number {
    return this.tracker.seq;
  }

  /** How many sequence gaps (each followed by a resync) were seen on this channel. */
  get gapCount(): number {
    return this.gapsBefore + this.tracker.gapCount;
  }

  /** Every member, sorted by client id. */
  get(): readonly Member[];
  /** One member, or undefined. */
  get(clientId: string): Member | undefined;
  get(clientId?: string): readonly Member[] | Member | undefined {
    return clientId === undefined ? this.list.all() : this.list.get(clientId);
  }

  /** Whether `clientId` is a member, by the local list (no round trip). */
  isPresent(clientId: string): boolean {
    return this.list.has(clientId);
  }

  /** Members, count and status in one object; a new object after every change. */
  snapshot(): ChannelSnapshot {
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
  enter(data?: MemberData): Promise<readonly Member[]> {
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
  watch(): Promise<readonly Member[]> {
    if (this.desired === "join") {
      return Promise.reject(
        new RollcallError("already_subscribed", `${this.name} is entered; leave it first to only watch it`),
      );
    }
    if (this.desired === "watch") return this.ready("watch");
    return this.subscribeAs("watch", undefined, undefined);
  }

  /**
   * Replaces this member's data, or with `{ merge: true }` applies `data` as a JSON merge patch
   * (RFC 7396: keys are set, `null` removes a key). Other members (and this client) receive an
   * `update` event; nothing is sent when the data does not change (`changed: false`).
   */
  async update(data: MemberData, options: { merge?: boolean } = {}): Promise<Updated> {
    if (!isObject(data)) throw new RollcallError("invalid_data", "member data must be a JSON object");
    if (this.desired !== "join") throw new RollcallError("not_joined", `${this.name} is not entered`);
    const merge = options.merge === true;
    const previous = this.entryData;
    // The data a re-entry would carry: kept in step with the server's copy by every event, and
    // ahead of it by the updates still on their way.
    this.entryData = merge ? (mergePatch(this.entryData ?? this.ownData() ?? {}, data) as MemberData) : data;
    const link = await this.readyLink("join");
    try {
      const result = await link.request(
        merge ? { op: "update", channel: this.name, patch: data } : { op: "update", channel: this.name, data },
        { timeoutMs: this.host.options.requestTimeoutMs },
      );
      return { seq: Number(result?.["seq"] ?? 0), changed: result?.["changed"] === true };
    } catch (error) {
      if (error instanceof RollcallError && error.code !== "timeout" && error.code !== "disconnected") {
        this.entryData = this.ownData() ?? previous;
      }
      throw error;
    }
  }

  /** `update(patch, { merge: true })`. */
  patch(patch: MemberData): Promise<Updated> {
    return this.update(patch, { merge: true });
  }

  /**
   * Leaves presence and unsubscribes. Others see `leave` (or an `update` when this client stays
   * present through another device). The local member list is emptied.
   */
  async leave(): Promise<void> {
    const wasSubscribed = this.serverMode !== null || this.desired !== null;
    this.desired = null;
    this.entryData = undefined;
    this.attachedBefore = false;
    this.rejectWaiters(new RollcallError("not_subscribed", `${this.name} was left`));
    const link = this.host.link();
    this.opCounter += 1;
    this.unsubscribedLocally();
    this.setStatus("detached");
    if (!link || !wasSubscribed) return;
    try {
      await link.request({ op: "leave", channel: this.name }, { timeoutMs: this.host.options.requestTimeoutMs });
    } catch (error) {
      // Not subscribed (a refused enter) or disconnected: left all the same.
      if (error instanceof RollcallError && (error.code === "not_subscribed" || error.code === "disconnected")) return;
      throw error;
    }
  }

  /**
   * Listens to presence events: all of them, or only the given action(s). Returns the function
   * that stops listening.
   */
  subscribe(listener: PresenceListener): Unsubscribe;
  subscribe(actions: PresenceAction | readonly PresenceAction[], listener: PresenceListener): Unsubscribe;
  subscribe(
    first: PresenceListener | PresenceAction | readonly PresenceAction[],
    second?: PresenceListener,
  ): Unsubscribe {
    const listener = typeof first === "function" ? first : second;
    if (!listener) throw new TypeError("subscribe needs a listener");
    const actions = typeof first === "function" ? null : new Set(typeof first === "string" ? [first] : first);
    const subscription: PresenceSubscription = { listener, actions };
    this.presenceListeners.add(subscription);
    return () => {
      this.presenceListeners.delete(subscription);
    };
  }

  /** Removes a presence listener (from the given actions only, when given). */
  unsubscribe(listener: PresenceListener): void;
  unsubscribe(actions: PresenceAction | readonly PresenceAction[], listener: PresenceListener): void;
  unsubscribe(first: PresenceListener | PresenceAction | readonly PresenceAction[], second?: PresenceListener): void {
    const listener = typeof first === "function" ? first : second;
    const only = typeof first === "function" ? null : new Set(typeof first === "string" ? [first] : first);
    for (const subscription of [...this.presenceListeners]) {
      if (subscription.listener !== listener) continue;
      this.presenceListeners.delete(subscription);
      if (only) {
        const remaining = [...(subscription.actions ?? ["join", "update", "leave"])].filter(
          (a) => !only.has(a as PresenceAction),
        ) as PresenceAction[];
        if (remaining.length > 0) this.presenceListeners.add({ listener, actions: new Set(remaining) });
      }
    }
  }

  /** Removes every presence listener of this channel. */
  unsubscribeAll(): void {
    this.presenceListeners.clear();
  }

  /** Listens to `status`, `change` or `resync`. */
  on<K extends keyof ChannelEvents>(event: K, listener: (value: ChannelEvents[K]) => void): Unsubscribe {
    return this.emitter.on(event, listener);
  }

  /** Invites `clientId` to this channel. The answer arrives as the client's `invitation_reply` event. */
  async invite(clientId: string, data?: Json): Promise<Invited> {
    if (!isValidClientId(clientId)) throw new RollcallError("invalid_client_id", `invalid client id ${JSON.stringify(clientId)}`);
    const link = await this.readyLink("watch");
    const op: Record<string, unknown> = { op: "invite", channel: this.name, client_id: clientId };
    if (data !== undefined) op["data"] = data;
    const result = await link.request(op, { timeoutMs: this.host.options.requestTimeoutMs });
    return { invitationId: String(result?.["invitation_id"]), delivered: Number(result?.["delivered"] ?? 0) };
  }

  // ---- internals used by the sub-APIs ----

  /** @internal */
  async publish(data: Json, options: PublishOptions): Promise<Published> {
    const messageId = options.messageId ?? randomId();
    const echo = options.echo ?? true;
    const { publishAttempts, publishAckTimeoutMs } = this.host.options;
    for (let attempts = 1; ; attempts++) {
      const link = await this.readyLink("watch");
      const op = { op: "publish", channel: this.name, data, echo, message_id: messageId };
      const tracker = this.tracker;
      // An un-echoed message takes a sequence number this connection never sees as an event;
      // the ack names it. Registered in the same tick as the send, so no event comes between.
      if (!echo) tracker.publishSent();
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
      } catch (error) {
        const retry =
          error instanceof RollcallError &&
          (error.code === "timeout" || error.code === "disconnected") &&
          attempts < publishAttempts;
        if (!retry) throw error;
      }
    }
  }

  /** @internal */
  async sendEphemeral(data: Json, echo: boolean): Promise<void> {
    const link = this.host.link();
    if (!link || this.serverMode === null) {
      throw new RollcallError("not_subscribed", `${this.name} is not attached`);
    }
    await link.request({ op: "ephemeral", channel: this.name, data, echo }, { timeoutMs: this.host.options.requestTimeoutMs });
  }

  /** @internal Called by an invitation's accept(). */
  acceptInvitation(invitationId: string, data: MemberData | undefined): Promise<Channel> {
    if (!this.host.link()) return Promise.reject(new RollcallError("disconnected", "not connected"));
    return this.subscribeAs("join", data, invitationId).then(() => this);
  }

  // ---- driven by the client ----

  /** @internal A connection (first or new) is up: subscribe again if wanted. */
  handleConnected(link: Link): void {
    if (this.desired === null) return;
    this.afterReconnect = this.attachedBefore;
    this.sendSubscribe(link, undefined);
  }

  /** @internal The connection was lost; a reconnect follows. The member list is kept for reconciling. */
  handleDisconnected(): void {
    this.serverMode = null;
    this.opCounter += 1;
    this.resetSequence();
    this.typing.clearOthers();
    if (this.desired !== null) this.setStatus(this.attachedBefore ? "suspended" : "attaching");
  }

  /** @internal The client closed (or was refused for good): everything is left. */
  handleClosed(error?: RollcallError): void {
    const wasActive = this.desired !== null;
    this.desired = null;
    this.entryData = undefined;
    this.attachedBefore = false;
    this.opCounter += 1;
    this.rejectWaiters(error ?? new RollcallError("closed", "the client was closed"));
    this.unsubscribedLocally();
    this.typing.halt();
    if (error && wasActive) this.lastError = error;
    this.setStatus(error && wasActive ? "failed" : "detached", error);
  }

  /** @internal An event of this channel arrived on the current connection. */
  handleEvent(link: Link, message: WireMemberEvent | WireMessage | WireEphemeral): void {
    if (this.serverMode === null) return;
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

  private subscribeAs(mode: Mode, data: MemberData | undefined, invitationId: string | undefined): Promise<readonly Member[]> {
    const previousDesired = this.desired;
    this.desired = mode;
    this.entryData = mode === "join" ? data : undefined;
    this.lastError = undefined;
    if (previousDesired === null) this.attachedBefore = false;
    const waiting = this.waitFor(mode);
    const link = this.host.link();
    if (link) this.sendSubscribe(link, invitationId);
    else if (this.currentStatus !== "suspended") this.setStatus("attaching");
    return waiting;
  }

  private sendSubscribe(link: Link, invitationId: string | undefined): void {
    const mode = this.desired;
    if (mode === null) return;
    const op: Record<string, unknown> =
      invitationId !== undefined
        ? { op: "invite_reply", invitation_id: invitationId, accept: true }
        : { op: mode, channel: this.name };
    if (mode === "join" && this.entryData !== undefined) op["data"] = this.entryData;
    const ticket = ++this.opCounter;
    if (!satisfies(this.serverMode, mode)) this.setStatus("attaching");
    link
      .request(op, {
        timeoutMs: this.host.options.requestTimeoutMs,
        onAnswer: (answer) => this.subscribeAnswered(link, ticket, mode, answer, invitationId),
      })
      .catch((error: RollcallError) => {
        // Answers are handled in onAnswer; a timeout means the server never answered.
        if (error.code === "timeout" && ticket === this.opCounter) this.rejectWaiters(error, mode);
      });
  }

  private subscribeAnswered(
    link: Link,
    ticket: number,
    mode: Mode,
    answer: Answer,
    invitationId: string | undefined,
  ): void {
    if (link !== this.host.link() || ticket !== this.opCounter) return;
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
      } else {
        this.replaceMembers(members, this.afterReconnect ? "reconnected" : "resubscribed");
      }
      this.afterReconnect = false;
      if (!this.setStatus("attached")) this.emitter.emit("change", this.snapshot());
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
      } else {
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

  private ownPublishAnswered(link: Link, tracker: SequenceTracker<SequencedEvent>, answer: Answer): void {
    if (link !== this.host.link() || tracker !== this.tracker) return;
    const seq = answer.ok && answer.result?.["duplicate"] !== true ? answer.result?.["seq"] : undefined;
    this.process(link, tracker.publishAnswered(typeof seq === "number" ? seq : undefined));
  }

  private process(link: Link, steps: Step<SequencedEvent>[]): void {
    for (const step of steps) {
      if (step.kind === "apply") this.apply(step.item);
      else if (step.item.type === "message") this.deliverMessage(step.item);
      // A missed member event is covered by the fresh member list that is on its way.
    }
    if (this.tracker.isHolding) this.armHold(link);
    else this.clearHold();
    if (this.tracker.isBroken && !this.resyncing) this.resync(link);
  }

  private apply(event: SequencedEvent): void {
    if (event.type === "message") {
      this.deliverMessage(event);
      return;
    }
    const member = toMember(event.member);
    let presence: PresenceEvent;
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
    } else {
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
      } else {
        const reason = event.reason ?? "data";
        presence = { action: "update", ...base, reason, ...(previous ? { previous } : {}) };
        if (reason === "connection_removed") this.typing.connectionRemoved(member.clientId, event.connection_id);
      }
      this.noteOwnData([member]);
    }
    this.invalidate();
    this.emitPresence(Object.freeze(presence));
    this.emitter.emit("change", this.snapshot());
  }

  /** Starts a resync after a gap: a fresh member list, compared with the local one. */
  private resync(link: Link): void {
    this.resyncing = true;
    const ticket = this.opCounter;
    const tracker = this.tracker;
    link
      .request(
        { op: "members", channel: this.name },
        {
          timeoutMs: this.host.options.requestTimeoutMs,
          onAnswer: (answer) => {
            if (link !== this.host.link() || ticket !== this.opCounter || tracker !== this.tracker) return;
            if (this.serverMode === null || !this.resyncing) return;
            this.resyncing = false;
            if (answer.ok && isSnapshot(answer.result)) {
              this.deliverMissed(tracker.base(answer.result.seq));
              const members = answer.result.members.map(toMember);
              this.noteOwnData(members);
              this.replaceMembers(members, "gap");
            } else {
              // Carry on from the next event rather than asking again in a loop.
              this.rebaseNext = true;
            }
          },
        },
      )
      .catch(() => {
        // Handled in onAnswer, or the connection is gone (a reconnect resubscribes).
      });
  }

  private replaceMembers(members: Member[], cause: ResyncInfo["cause"]): void {
    const events = this.list.reconcile(this.name, members);
    this.invalidate();
    for (const event of events) {
      if (event.action === "leave") this.typing.memberLeft(event.clientId);
      this.emitPresence(Object.freeze(event));
    }
    if (events.length > 0) this.emitter.emit("change", this.snapshot());
    this.emitter.emit("resync", Object.freeze({ cause, members: this.list.size, changes: events.length }));
  }

  private deliverMissed(steps: Step<SequencedEvent>[]): void {
    for (const step of steps) if (step.item.type === "message") this.deliverMessage(step.item);
  }

  private deliverMessage(event: WireMessage): void {
    if (event.message_id !== undefined) {
      const key = `${event.client_id ?? event.connection_id}\u0000${event.message_id}`;
      if (this.recentMessages.has(key)) return;
      this.recentMessages.add(key);
      if (this.recentMessages.size > RECENT_MESSAGES) {
        const oldest = this.recentMessages.values().next().value;
        if (oldest !== undefined) this.recentMessages.delete(oldest);
      }
    }
    const message: Message = Object.freeze({
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

  private deliverEphemeral(event: WireEphemeral): void {
    const typing = typingSignal(event.data);
    if (typing !== undefined) {
      this.typing.received(event.client_id, event.connection_id, typing);
      return;
    }
    this.messageEmitter.emit(
      "ephemeral",
      Object.freeze({
        channel: this.name,
        ts: event.ts,
        clientId: event.client_id,
        connectionId: event.connection_id,
        data: event.data,
      }),
    );
  }

  private emitPresence(event: PresenceEvent): void {
    for (const subscription of [...this.presenceListeners]) {
      if (subscription.actions && !subscription.actions.has(event.action)) continue;
      try {
        subscription.listener(event);
      } catch (error) {
        reportListenerError(error);
      }
    }
  }

  /** Keeps the data a re-entry will carry in step with this client's member as the server has it. */
  private noteOwnData(members: readonly Member[]): void {
    if (this.desired !== "join") return;
    const own = this.host.session()?.clientId;
    if (!own) return;
    const mine = members.find((m) => m.clientId === own);
    if (mine) this.entryData = mine.data;
  }

  private ownData(): MemberData | undefined {
    const own = this.host.session()?.clientId;
    return (own ? this.list.get(own)?.data : undefined) ?? this.entryData;
  }

  private unsubscribedLocally(): void {
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

  private resetSequence(): void {
    this.clearHold();
    this.deliverMissed(this.tracker.reset());
    this.gapsBefore += this.tracker.gapCount;
    this.tracker = new SequenceTracker<SequencedEvent>();
  }

  private armHold(link: Link): void {
    if (this.holdTimer !== undefined) return;
    const tracker = this.tracker;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      if (tracker !== this.tracker || link !== this.host.link()) return;
      this.process(link, tracker.giveUp());
    }, this.host.options.requestTimeoutMs);
  }

  private clearHold(): void {
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  /** Waits until attached in `mode` (or better), on the current connection. */
  private ready(mode: Mode): Promise<readonly Member[]> {
    if (!satisfies(this.desired, mode)) {
      return Promise.reject(
        new RollcallError(
          mode === "join" ? "not_joined" : "not_subscribed",
          `${this.name} is not ${mode === "join" ? "entered" : "entered or watched"}`,
        ),
      );
    }
    if (this.host.link() && satisfies(this.serverMode, mode) && this.currentStatus === "attached") {
      return Promise.resolve(this.list.all());
    }
    return this.waitFor(mode);
  }

  private async readyLink(mode: Mode): Promise<Link> {
    await this.ready(mode);
    const link = this.host.link();
    if (!link) throw new RollcallError("disconnected", "not connected");
    return link;
  }

  private waitFor(mode: Mode): Promise<readonly Member[]> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let stopWatchingState: Unsubscribe | undefined;
      const cleanup = () => {
        if (timer !== undefined) clearTimeout(timer);
        stopWatchingState?.();
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const waiter: Waiter = {
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
      if (this.host.link()) arm();
      else {
        stopWatchingState = this.host.onState((change) => {
          if (change.state === "connected") arm();
        });
      }
    });
  }

  private settleWaiters(): void {
    for (const waiter of [...this.waiters]) {
      if (satisfies(this.serverMode, waiter.mode)) waiter.resolve(this.list.all());
    }
  }

  private rejectWaiters(error: RollcallError, mode?: Mode): void {
    for (const waiter of [...this.waiters]) {
      if (mode === undefined || waiter.mode === mode) waiter.reject(error);
    }
  }

  /** Returns false when the status was already `status`. */
  private setStatus(status: ChannelStatus, error?: RollcallError): boolean {
    if (status === this.currentStatus) return false;
    const previous = this.currentStatus;
    this.currentStatus = status;
    this.invalidate();
    this.emitter.emit("status", Object.freeze({ status, previous, ...(error ? { error } : {}) }));
    this.emitter.emit("change", this.snapshot());
    return true;
  }

  private invalidate(): void {
    this.cachedSnapshot = undefined;
  }
}

/** A channel's messages. */
export class ChannelMessages {
  constructor(private readonly channel: Channel) {}

  /**
   * Publishes `data` (any JSON value) to every subscriber of the channel, this connection
   * included unless `echo: false`. Waits for the server's ack; a late ack makes it send again
   * with the same message id (the server delivers a message id once per sender and channel).
   */
  publish(data: Json, options: PublishOptions = {}): Promise<Published> {
    return this.channel.publish(data, options);
  }

  /** Listens to the channel's messages; returns the function that stops listening. */
  subscribe(listener: (message: Message) => void): Unsubscribe {
    return this.channel.messageEmitter.on("message", listener);
  }

  unsubscribe(listener: (message: Message) => void): void {
    this.channel.messageEmitter.off("message", listener);
  }

  unsubscribeAll(): void {
    this.channel.messageEmitter.clear("message");
  }
}

/** A channel's ephemeral messages. */
export class ChannelEphemeral {
  constructor(private readonly channel: Channel) {}

  /** Sends an ephemeral message: not sequenced, not retried, skipped for readers that are behind. */
  send(data: Json, options: { echo?: boolean } = {}): Promise<void> {
    return this.channel.sendEphemeral(data, options.echo ?? false);
  }

  subscribe(listener: (message: EphemeralMessage) => void): Unsubscribe {
    return this.channel.messageEmitter.on("ephemeral", listener);
  }

  unsubscribeAll(): void {
    this.channel.messageEmitter.clear("ephemeral");
  }
}
