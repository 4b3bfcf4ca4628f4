// React bindings: `usePresence(channel)` → { members, count, status }, `useTyping(channel)`, and a
// provider so components can name channels by string. React is a peer dependency.

import * as React from "react";
import type { Channel, ChannelSnapshot, ChannelStatus } from "./channel.js";
import type { RollcallClient } from "./client.js";
import type { Member, MemberData } from "./types.js";

const RollcallContext = React.createContext<RollcallClient | null>(null);

export interface RollcallProviderProps {
  client: RollcallClient;
  children?: React.ReactNode;
}

/** Makes `client` available to `usePresence("name")` and `useRollcall()` below it. */
export function RollcallProvider(props: RollcallProviderProps): React.ReactElement {
  return React.createElement(RollcallContext.Provider, { value: props.client }, props.children);
}

/** The client given to the nearest `RollcallProvider`. */
export function useRollcall(): RollcallClient {
  const client = React.useContext(RollcallContext);
  if (!client) throw new Error("useRollcall: no <RollcallProvider client={…}> above this component");
  return client;
}

function useChannel(channel: Channel | string): Channel {
  const client = React.useContext(RollcallContext);
  if (typeof channel !== "string") return channel;
  if (!client) throw new Error(`usePresence("${channel}"): no <RollcallProvider client={…}> above this component`);
  return client.channel(channel);
}

export interface UsePresenceOptions {
  /**
   * Enter the channel while the component is mounted (and leave when it unmounts): `true`, or
   * the member data to enter with. When the data changes, the member is updated.
   */
  enter?: MemberData | true;
  /** Watch the channel while mounted (and leave when unmounted), without entering. */
  watch?: boolean;
}

export interface PresenceState {
  /** The members, sorted by client id. */
  readonly members: readonly Member[];
  readonly count: number;
  /** The channel's status: `attached` once the member list is live. */
  readonly status: ChannelStatus;
}

/**
 * The channel's members, count and status, re-rendering on every change. Without options it
 * only observes (enter or watch the channel yourself); with `{ enter }` or `{ watch: true }` the
 * component's lifetime drives the subscription.
 */
export function usePresence(channel: Channel | string, options: UsePresenceOptions = {}): PresenceState {
  const resolved = useChannel(channel);
  const subscribe = React.useCallback((notify: () => void) => resolved.on("change", notify), [resolved]);
  const getSnapshot = React.useCallback((): ChannelSnapshot => resolved.snapshot(), [resolved]);
  const snapshot = React.useSyncExternalStore(subscribe, getSnapshot, getSnapshot);

  const mode = options.enter !== undefined ? "enter" : options.watch ? "watch" : "observe";
  const data = options.enter === true || options.enter === undefined ? undefined : options.enter;
  const dataKey = data === undefined ? "" : JSON.stringify(data);
  const latestData = React.useRef(data);
  latestData.current = data;

  React.useEffect(() => {
    if (mode === "observe") return undefined;
    const started = mode === "enter" ? resolved.enter(latestData.current) : resolved.watch();
    // A refusal shows in `status`; nothing to throw to.
    started.catch(() => undefined);
    return () => {
      resolved.leave().catch(() => undefined);
    };
  }, [resolved, mode]);

  const enteredKey = React.useRef(dataKey);
  React.useEffect(() => {
    if (mode !== "enter" || dataKey === enteredKey.current) return;
    enteredKey.current = dataKey;
    if (latestData.current !== undefined && resolved.mode === "join") {
      resolved.update(latestData.current).catch(() => undefined);
    }
  }, [resolved, mode, dataKey]);

  return snapshot;
}

export interface TypingState {
  /** Client ids currently typing (not this client), sorted. */
  readonly typing: readonly string[];
  /** Call on every keystroke. */
  readonly start: () => void;
  /** Call when the text is sent or cleared. */
  readonly stop: () => void;
}

/** Who is typing in the channel, and the functions to report this client's typing. */
export function useTyping(channel: Channel | string): TypingState {
  const resolved = useChannel(channel);
  const subscribe = React.useCallback(
    (notify: () => void) => resolved.typing.subscribe(() => notify()),
    [resolved],
  );
  const getSnapshot = React.useCallback(() => resolved.typing.current, [resolved]);
  const typing = React.useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
  const start = React.useCallback(() => resolved.typing.start(), [resolved]);
  const stop = React.useCallback(() => resolved.typing.stop(), [resolved]);
  return React.useMemo(() => ({ typing, start, stop }), [typing, start, stop]);
}
