// The demo room: a page built on rollcall's TypeScript SDK (./sdk/, compiled from clients/js).
//
// - presence: each visitor enters the room's channel with { name, color, avatar, status };
//   `status` is patched to "away" while the tab is hidden and back to "online" when it shows;
// - chat: sequenced messages ({ text, name, color }), with join/leave notices between them;
// - typing: the SDK's typing indicator (ephemeral {"$typing": …});
// - cursors: ephemeral { cursor: [x, y] } (0..1 over the board, at most 20 a second),
//   { cursor: null } when the pointer leaves, { ping: [x, y] } on a click.
//
// The client id is per tab (sessionStorage), so two tabs are two people; the name, colour and
// avatar are remembered (localStorage). A reload re-enters the room the tab was in.

import { RollcallClient } from "./sdk/index.js";
import { PALETTE, avatar, clock, h, memberColour, memberName, meta, throttle, wsUrl } from "./shared.js";

const AVATARS = ["", "🦊", "🐼", "🐙", "🐸", "🦉", "🐝", "🐳", "🌵", "🚀"];
const ROOM_PATTERN = /^[A-Za-z0-9_=@,.;:-]{1,64}$/;
const CURSOR_EVERY_MS = 50; // 20 a second at most
const CURSOR_IDLE_MS = 4_000;
const CURSOR_GONE_MS = 15_000;
const FEED_MAX = 200;

const $ = (id) => document.getElementById(id);
const ui = {
  lobby: $("lobby"),
  roomView: $("room-view"),
  form: $("join-form"),
  name: $("name"),
  colours: $("colours"),
  avatars: $("avatars"),
  room: $("room"),
  preview: $("preview"),
  enter: $("enter"),
  joinError: $("join-error"),
  roomChip: $("room-chip"),
  roomName: $("room-name"),
  conn: $("conn"),
  share: $("share"),
  leave: $("leave"),
  count: $("count"),
  members: $("members"),
  board: $("board"),
  boardHint: $("board-hint"),
  feed: $("feed"),
  typing: $("typing"),
  chatForm: $("chat-form"),
  message: $("message"),
  toast: $("toast"),
};

const appKey = meta("rollcall-app-key");
const storage = {
  get(store, key) {
    try {
      return store.getItem(key);
    } catch {
      return null;
    }
  },
  set(store, key, value) {
    try {
      if (value === null) store.removeItem(key);
      else store.setItem(key, value);
    } catch {
      // Private mode or storage disabled: nothing is remembered.
    }
  },
};

function randomHex(bytes) {
  const array = new Uint8Array(bytes);
  crypto.getRandomValues(array);
  return Array.from(array, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** This tab's client id: kept across reloads of the tab, different in every tab. */
function tabClientId() {
  let id = storage.get(sessionStorage, "rollcall.demo.id");
  if (!id) {
    id = `guest-${randomHex(4)}`;
    storage.set(sessionStorage, "rollcall.demo.id", id);
  }
  return id;
}

function loadPrefs() {
  try {
    const prefs = JSON.parse(storage.get(localStorage, "rollcall.demo.prefs") ?? "{}");
    return {
      name: typeof prefs.name === "string" ? prefs.name : "",
      color: PALETTE.includes(prefs.color) ? prefs.color : PALETTE[Math.floor(Math.random() * PALETTE.length)],
      avatar: AVATARS.includes(prefs.avatar) ? prefs.avatar : "",
    };
  } catch {
    return { name: "", color: PALETTE[0], avatar: "" };
  }
}

/** The room named by the URL: /r/{room} or ?room=…; "lobby" by default. */
function roomFromUrl() {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  let room = "";
  try {
    room = match ? decodeURIComponent(match[1]) : (new URLSearchParams(location.search).get("room") ?? "");
  } catch {
    room = "";
  }
  return ROOM_PATTERN.test(room) ? room : "lobby";
}

// ---- state ----

const me = { clientId: tabClientId(), ...loadPrefs() };
let client;
let channel;
let roomName = roomFromUrl();
let typingIds = [];
let stopVisibility;
const cursors = new Map(); // connectionId -> { el, timer, idle }

// ---- lobby ----

function renderPicker() {
  ui.colours.replaceChildren(
    ...PALETTE.map((colour) =>
      h("button", {
        type: "button",
        class: "swatch",
        role: "radio",
        "aria-checked": String(colour === me.color),
        "aria-label": colour,
        style: { "--c": colour },
        onclick: () => {
          me.color = colour;
          renderPicker();
        },
      }),
    ),
  );
  ui.avatars.replaceChildren(
    ...AVATARS.map((emoji) =>
      h(
        "button",
        {
          type: "button",
          class: `avatar-choice${emoji ? "" : " initials"}`,
          role: "radio",
          "aria-checked": String(emoji === me.avatar),
          "aria-label": emoji || "initials",
          onclick: () => {
            me.avatar = emoji;
            renderPicker();
          },
        },
        emoji || "Aa",
      ),
    ),
  );
  renderPreview();
}

function renderPreview() {
  const name = ui.name.value.trim() || "You";
  const room = ui.room.value.trim() || "lobby";
  ui.preview.replaceChildren(
    avatar({ clientId: me.clientId, data: { name, color: me.color, avatar: me.avatar } }),
    h("span", {}, h("strong", {}, name), " will enter ", h("strong", {}, `#${room}`)),
  );
  for (const el of document.querySelectorAll(".room-example")) el.textContent = room;
}

function showError(text) {
  ui.joinError.textContent = text;
  ui.joinError.hidden = !text;
}

async function onJoinSubmit(event) {
  event.preventDefault();
  const name = ui.name.value.trim();
  const room = ui.room.value.trim();
  if (!name) return showError("Pick a name first.");
  if (!ROOM_PATTERN.test(room)) return showError("Room names use letters, digits and - _ = @ , . ; : (64 at most).");
  me.name = name.slice(0, 32);
  roomName = room;
  storage.set(localStorage, "rollcall.demo.prefs", JSON.stringify({ name: me.name, color: me.color, avatar: me.avatar }));
  await enterRoom();
}

// ---- the room ----

function memberData() {
  return { name: me.name, color: me.color, avatar: me.avatar, status: document.hidden ? "away" : "online" };
}

async function enterRoom() {
  showError("");
  ui.enter.disabled = true;
  ui.enter.textContent = "Connecting…";
  client = new RollcallClient({
    url: wsUrl(),
    clientId: me.clientId,
    ...(appKey ? { appKey } : {}),
    typing: { refreshMs: 1500, idleMs: 3000, timeoutMs: 4000 },
  });
  client.on("state", ({ state }) => renderConnection(state));
  try {
    await client.connect();
    channel = client.channel(roomName);
    channel.subscribe(onPresence);
    channel.on("change", renderMembers);
    channel.messages.subscribe(onMessage);
    channel.ephemeral.subscribe(onEphemeral);
    channel.typing.subscribe((ids) => {
      typingIds = ids;
      renderTyping();
      renderMembers();
    });
    const members = await channel.enter(memberData());
    storage.set(sessionStorage, "rollcall.demo.in", roomName);
    if (location.pathname !== `/r/${encodeURIComponent(roomName)}`) {
      history.replaceState(null, "", `/r/${encodeURIComponent(roomName)}`);
    }
    showRoom(members.length - 1);
  } catch (error) {
    await client.close().catch(() => {});
    client = channel = undefined;
    showError(`Could not enter the room: ${error?.message ?? error}`);
    renderConnection("closed");
  } finally {
    ui.enter.disabled = false;
    ui.enter.textContent = "Enter room";
  }
}

function showRoom(others) {
  document.title = `#${roomName} · rollcall`;
  ui.lobby.hidden = true;
  ui.roomView.hidden = false;
  document.body.classList.add("in-room");
  ui.roomChip.hidden = false;
  ui.conn.hidden = false;
  ui.share.hidden = false;
  ui.leave.hidden = false;
  ui.roomName.textContent = roomName;
  ui.feed.replaceChildren(
    h("li", { class: "empty", id: "feed-empty" }, "Messages appear here. They are not stored: only those present see them."),
  );
  notice(h("span", {}, h("strong", {}, "You"), " joined", others === 0 ? " — nobody else is here yet" : ` — ${others} ${others === 1 ? "other is" : "others are"} here`));
  renderMembers();
  renderTyping();
  const onVisibility = () => {
    channel?.patch({ status: document.hidden ? "away" : "online" }).catch(() => {});
  };
  document.addEventListener("visibilitychange", onVisibility);
  stopVisibility = () => document.removeEventListener("visibilitychange", onVisibility);
  ui.message.focus();
}

async function leaveRoom() {
  stopVisibility?.();
  stopVisibility = undefined;
  storage.set(sessionStorage, "rollcall.demo.in", null);
  const leaving = client;
  client = channel = undefined;
  typingIds = [];
  for (const id of [...cursors.keys()]) removeCursor(id);
  try {
    await leaving?.close();
  } catch {
    // Closing is best-effort; the server notices a dropped connection anyway.
  }
  document.title = "rollcall · live room";
  ui.roomView.hidden = true;
  ui.lobby.hidden = false;
  document.body.classList.remove("in-room");
  ui.roomChip.hidden = true;
  ui.conn.hidden = true;
  ui.share.hidden = true;
  ui.leave.hidden = true;
  renderConnection("idle");
  ui.room.value = roomName;
  renderPreview();
}

function renderConnection(state) {
  const labels = {
    idle: "not connected",
    connecting: "connecting…",
    connected: "live",
    reconnecting: "reconnecting…",
    closed: "offline",
  };
  ui.conn.dataset.state = state;
  ui.conn.textContent = labels[state] ?? state;
}

function statusOf(member) {
  if (typingIds.includes(member.clientId)) return "typing";
  return member.data?.status === "away" ? "away" : "online";
}

function renderMembers() {
  if (!channel) return;
  const members = [...channel.get()].sort((a, b) => {
    if (a.clientId === me.clientId) return -1;
    if (b.clientId === me.clientId) return 1;
    return memberName(a).localeCompare(memberName(b));
  });
  ui.count.textContent = String(members.length);
  ui.members.replaceChildren(
    ...members.map((member) => {
      const status = statusOf(member);
      const devices = member.connections.length;
      const label = status === "typing" ? "typing…" : status;
      return h(
        "li",
        { class: "member", dataset: { clientId: member.clientId, status } },
        h("span", { class: "avatar-wrap" }, avatar(member)),
        h(
          "span",
          { class: "who" },
          h("span", { class: "name" }, memberName(member), member.clientId === me.clientId ? h("span", { class: "you" }, " (you)") : null),
          h("span", { class: "status" }, devices > 1 ? `${label} · ${devices} tabs` : label),
        ),
      );
    }),
  );
}

function nameOf(clientId) {
  const member = channel?.get(clientId);
  return member ? memberName(member) : clientId;
}

function renderTyping() {
  const names = typingIds.map(nameOf).sort((a, b) => a.localeCompare(b));
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.length} people are typing…`;
  ui.typing.textContent = text;
}

// ---- feed ----

function appendToFeed(item) {
  $("feed-empty")?.remove();
  const atBottom = ui.feed.scrollHeight - ui.feed.scrollTop - ui.feed.clientHeight < 40;
  ui.feed.append(item);
  while (ui.feed.children.length > FEED_MAX) ui.feed.firstElementChild?.remove();
  if (atBottom) ui.feed.scrollTop = ui.feed.scrollHeight;
}

function notice(content, kind = "info") {
  appendToFeed(h("li", { class: `notice notice-${kind}` }, content));
}

function onPresence(event) {
  if (event.clientId === me.clientId) return;
  const name = memberName(event.member);
  if (event.action === "join") {
    notice(h("span", {}, h("strong", {}, name), " joined"), "join");
  } else if (event.action === "leave") {
    notice(h("span", {}, h("strong", {}, name), " left"), "leave");
    for (const [id, cursor] of cursors) if (cursor.clientId === event.clientId) removeCursor(id);
  } else if (event.reason === "data" && event.previous && memberName(event.previous) !== name) {
    notice(h("span", {}, h("strong", {}, memberName(event.previous)), " is now ", h("strong", {}, name)));
  }
}

function messageText(data) {
  if (typeof data === "string") return data;
  if (data && typeof data === "object" && typeof data.text === "string") return data.text;
  return JSON.stringify(data);
}

function onMessage(message) {
  const mine = message.connectionId === client?.session?.connectionId;
  const member = message.clientId ? channel?.get(message.clientId) : undefined;
  const data = message.data && typeof message.data === "object" ? message.data : {};
  const sender = member ?? { clientId: message.clientId ?? "anonymous", data: { name: data.name, color: data.color } };
  const text = messageText(message.data).slice(0, 2000);
  appendToFeed(
    h(
      "li",
      { class: `msg${mine ? " mine" : ""}`, dataset: { from: message.clientId ?? "" } },
      mine ? null : avatar(sender, "sm"),
      h(
        "div",
        { class: "bubble" },
        h("div", { class: "meta", style: { "--c": memberColour(sender) } }, h("span", { class: "from" }, mine ? "You" : memberName(sender)), h("span", {}, clock(message.ts))),
        h("div", { class: "text" }, text),
      ),
    ),
  );
}

async function onChatSubmit(event) {
  event.preventDefault();
  const text = ui.message.value.trim();
  if (!text || !channel) return;
  ui.message.value = "";
  channel.typing.stop();
  try {
    await channel.messages.publish({ text: text.slice(0, 500), name: me.name, color: me.color });
  } catch (error) {
    toast(`Not sent: ${error?.message ?? error}`);
    ui.message.value = text;
  }
}

function onMessageInput() {
  if (!channel) return;
  if (ui.message.value.trim()) channel.typing.start();
  else channel.typing.stop();
}

// ---- cursors ----

const CURSOR_SVG =
  '<svg viewBox="0 0 20 20" aria-hidden="true"><path d="M2 1.5 17.5 9.2l-6.7 1.6-3.1 6.4z" fill="var(--c)" stroke="#fff" stroke-width="1.6" stroke-linejoin="round"/></svg>';

function boardPoint(event) {
  const rect = ui.board.getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)].map((v) => Math.round(v * 1000) / 1000);
}

const sendCursor = throttle((point) => {
  channel?.ephemeral.send({ cursor: point }).catch(() => {});
}, CURSOR_EVERY_MS);

function onBoardMove(event) {
  if (channel) sendCursor(boardPoint(event));
}

function onBoardLeave() {
  if (channel) sendCursor(null);
}

function onBoardClick(event) {
  if (!channel) return;
  const point = boardPoint(event);
  showPing(point, me.color);
  channel.ephemeral.send({ ping: point }).catch(() => {});
}

function validPoint(value) {
  return Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number" && v >= 0 && v <= 1);
}

function onEphemeral(message) {
  const data = message.data;
  if (!data || typeof data !== "object" || message.connectionId === client?.session?.connectionId) return;
  if ("cursor" in data) {
    if (validPoint(data.cursor)) moveCursor(message, data.cursor);
    else removeCursor(message.connectionId);
  }
  if (validPoint(data.ping)) {
    const member = message.clientId ? channel?.get(message.clientId) : undefined;
    showPing(data.ping, memberColour(member ?? { clientId: message.clientId ?? "" }));
  }
}

function moveCursor(message, [x, y]) {
  let cursor = cursors.get(message.connectionId);
  const member = message.clientId ? channel?.get(message.clientId) : undefined;
  if (!member) return; // not (or no longer) a member: nobody to label it with
  if (!cursor) {
    const el = h("div", { class: "cursor", dataset: { clientId: message.clientId } });
    el.innerHTML = CURSOR_SVG;
    el.append(h("span", { class: "label" }));
    ui.board.append(el);
    cursor = { el, clientId: message.clientId, idle: undefined, gone: undefined };
    cursors.set(message.connectionId, cursor);
  }
  cursor.el.style.setProperty("--c", memberColour(member));
  cursor.el.querySelector(".label").textContent = memberName(member);
  cursor.el.style.left = `${x * 100}%`;
  cursor.el.style.top = `${y * 100}%`;
  cursor.el.classList.remove("idle");
  clearTimeout(cursor.idle);
  clearTimeout(cursor.gone);
  cursor.idle = setTimeout(() => cursor.el.classList.add("idle"), CURSOR_IDLE_MS);
  cursor.gone = setTimeout(() => removeCursor(message.connectionId), CURSOR_GONE_MS);
  ui.boardHint.hidden = true;
}

function removeCursor(connectionId) {
  const cursor = cursors.get(connectionId);
  if (!cursor) return;
  clearTimeout(cursor.idle);
  clearTimeout(cursor.gone);
  cursor.el.remove();
  cursors.delete(connectionId);
  ui.boardHint.hidden = cursors.size > 0;
}

function showPing([x, y], colour) {
  const el = h("span", { class: "ping", style: { "--c": colour, left: `${x * 100}%`, top: `${y * 100}%` } });
  ui.board.append(el);
  setTimeout(() => el.remove(), 1000);
}

// ---- misc ----

let toastTimer;
function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (ui.toast.hidden = true), 2200);
}

async function copyLink() {
  const link = `${location.origin}/r/${encodeURIComponent(roomName)}`;
  try {
    await navigator.clipboard.writeText(link);
    toast("Link copied — open it in another window");
  } catch {
    toast(link);
  }
}

// ---- start ----

ui.name.value = me.name;
ui.room.value = roomName;
renderPicker();
ui.name.addEventListener("input", renderPreview);
ui.room.addEventListener("input", renderPreview);
ui.form.addEventListener("submit", onJoinSubmit);
ui.chatForm.addEventListener("submit", onChatSubmit);
ui.message.addEventListener("input", onMessageInput);
ui.board.addEventListener("pointermove", onBoardMove);
ui.board.addEventListener("pointerleave", onBoardLeave);
ui.board.addEventListener("click", onBoardClick);
ui.leave.addEventListener("click", leaveRoom);
ui.share.addEventListener("click", copyLink);
window.addEventListener("pagehide", () => {
  // Leave at once instead of waiting for the heartbeat timeout.
  client?.close();
});

if (!appKey) {
  ui.enter.disabled = true;
  showError("This server has no app that allows anonymous clients, which the demo room needs: add one with allow_anonymous = true (see docs/configuration.md).");
} else if (me.name && storage.get(sessionStorage, "rollcall.demo.in") === roomName) {
  enterRoom();
} else {
  (me.name ? ui.room : ui.name).focus();
}
