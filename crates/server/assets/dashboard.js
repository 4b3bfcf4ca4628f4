// The operator dashboard. Everything it shows comes from the admin API (docs/http-api.md),
// polled every two seconds with the session cookie the sign-in form set; the live event tail
// watches the chosen channel over the native WebSocket, through the TypeScript SDK, with a
// watch-only token the API mints for it (so the dashboard's own connection shows up as one
// more subscriber of that channel, never as a member).

import { RollcallClient } from "./sdk/index.js";
import { ago, avatar, compactJson, duration, h, memberName, preciseClock, wsUrl } from "./shared.js";

const POLL_MS = 2000;
const EVENTS_MAX = 500;

const $ = (id) => document.getElementById(id);
const ui = {
  app: $("app"),
  serverInfo: $("server-info"),
  poll: $("poll"),
  connections: $("stat-connections"),
  channelsStat: $("stat-channels"),
  membersStat: $("stat-members"),
  subscriptions: $("stat-subscriptions"),
  appNote: $("stat-app-note"),
  filter: $("filter"),
  channelsTotal: $("channels-total"),
  channelRows: $("channel-rows"),
  channelsEmpty: $("channels-empty"),
  detailChannel: $("detail-channel"),
  detailMeta: $("detail-meta"),
  detailEmpty: $("detail-empty"),
  memberList: $("member-list"),
  tailState: $("tail-state"),
  showEphemeral: $("show-ephemeral"),
  pause: $("pause"),
  clear: $("clear"),
  events: $("events"),
  eventsEmpty: $("events-empty"),
};

const selection = { app: "", channel: "" };
{
  const params = new URLSearchParams(location.hash.slice(1));
  selection.app = params.get("app") ?? "";
  selection.channel = params.get("channel") ?? "";
}

// ---- the admin API ----

class SignedOut extends Error {}

async function api(path, init = {}) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...init });
  if (response.status === 401 || response.status === 403) throw new SignedOut(String(response.status));
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.message ?? `HTTP ${response.status}`);
  }
  return response.json();
}

const enc = encodeURIComponent;

// ---- polling ----

let pollTimer;
let refreshSoon;
let polling = false;
let pollAgain = false;

/** Reads stats, channels and members; one poll at a time (a call meanwhile runs right after). */
async function poll() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  clearTimeout(pollTimer);
  try {
    await pollOnce();
  } catch (error) {
    polling = false;
    if (error instanceof SignedOut) {
      // The session ended (signed out elsewhere, or the token changed): show the sign-in page.
      location.reload();
      return;
    }
    ui.poll.dataset.state = "reconnecting";
    ui.poll.textContent = "retrying…";
  }
  polling = false;
  if (pollAgain) {
    pollAgain = false;
    poll();
    return;
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

async function pollOnce() {
  const stats = await api("/api/stats");
  renderStats(stats);
  if (selection.app) {
    const prefix = ui.filter.value.trim();
    const channels = await api(`/api/apps/${enc(selection.app)}/channels?limit=200${prefix ? `&prefix=${enc(prefix)}` : ""}`);
    renderChannels(channels);
  }
  if (selection.app && selection.channel) {
    renderMembers(await api(`/api/apps/${enc(selection.app)}/channels/${enc(selection.channel)}/members?limit=200`));
  }
  ui.poll.dataset.state = "connected";
  ui.poll.textContent = "live";
}

/** A refresh shortly after a presence event, so the member list follows the tail at once. */
function refreshAfterEvent() {
  clearTimeout(refreshSoon);
  refreshSoon = setTimeout(poll, 150);
}

// ---- rendering ----

function renderStats(stats) {
  const apps = stats.apps;
  if (!apps.some((a) => a.id === selection.app)) {
    const busiest = [...apps].sort((a, b) => b.members - a.members || b.channels - a.channels)[0];
    select(busiest?.id ?? "", "");
  }
  const current = [...ui.app.options].map((o) => o.value).join("\u0000");
  if (current !== apps.map((a) => a.id).join("\u0000")) {
    ui.app.replaceChildren(...apps.map((a) => h("option", { value: a.id }, `${a.id} (${a.key})`)));
  }
  ui.app.value = selection.app;
  const app = apps.find((a) => a.id === selection.app);
  ui.connections.textContent = stats.connections.toLocaleString();
  ui.channelsStat.textContent = (app?.channels ?? 0).toLocaleString();
  ui.membersStat.textContent = (app?.members ?? 0).toLocaleString();
  ui.subscriptions.textContent = (app?.subscriptions ?? 0).toLocaleString();
  ui.appNote.textContent = apps.length > 1 ? `in app ${selection.app}` : "with a subscriber";
  ui.serverInfo.textContent = `v${stats.server_version} · node ${stats.node_id} · up ${duration(stats.uptime_s)}`;
}

function renderChannels(result) {
  ui.channelsTotal.textContent = result.total > result.channels.length ? `${result.channels.length} of ${result.total}` : `${result.total}`;
  ui.channelsEmpty.hidden = result.channels.length > 0;
  ui.channelRows.replaceChildren(
    ...result.channels.map((c) =>
      h(
        "tr",
        {
          dataset: { channel: c.name },
          "aria-selected": String(c.name === selection.channel),
          tabindex: "0",
          onclick: () => select(selection.app, c.name),
          onkeydown: (e) => {
            if (e.key === "Enter" || e.key === " ") {
              e.preventDefault();
              select(selection.app, c.name);
            }
          },
        },
        h("td", { class: "name" }, c.name),
        h("td", { class: "num" }, c.members.toLocaleString()),
        h("td", { class: "num" }, c.subscriptions.toLocaleString()),
      ),
    ),
  );
}

const memberCards = new Map(); // client id -> { el, key }

function renderMembers(result) {
  if (result.channel !== selection.channel) return;
  const more = result.count - result.members.length;
  ui.detailMeta.textContent = `${result.count} ${result.count === 1 ? "member" : "members"} · seq ${result.seq}${more > 0 ? ` · first ${result.members.length} shown` : ""}`;
  ui.detailEmpty.hidden = result.count > 0;
  ui.detailEmpty.textContent = "Nobody is present in this channel right now.";
  const now = Date.now();
  const seen = new Set();
  const ordered = [];
  const byName = [...result.members].sort((a, b) =>
    memberName({ clientId: a.client_id, data: a.data }).localeCompare(memberName({ clientId: b.client_id, data: b.data })),
  );
  for (const m of byName) {
    seen.add(m.client_id);
    const key = JSON.stringify(m);
    let card = memberCards.get(m.client_id);
    if (!card || card.key !== key) {
      const el = memberCard(m, now);
      if (card) card.el.replaceWith(el);
      card = { el, key, member: m };
      memberCards.set(m.client_id, card);
    } else {
      // Only the relative times move.
      card.el.querySelector(".since").textContent = sinceText(card.member, now);
    }
    ordered.push(card.el);
  }
  for (const [id, card] of memberCards) {
    if (!seen.has(id)) {
      card.el.remove();
      memberCards.delete(id);
    }
  }
  ui.memberList.replaceChildren(...ordered);
}

function sinceText(m, now) {
  return `${m.client_id} · joined ${ago(m.joined_at, now)}`;
}

function memberCard(m, now) {
  const member = { clientId: m.client_id, data: m.data };
  const name = memberName(member);
  return h(
    "li",
    { class: "member-card", dataset: { clientId: m.client_id } },
    avatar(member),
    h(
      "div",
      { class: "title" },
      h("strong", {}, name),
      typeof m.data.status === "string" ? h("span", { class: "pill", dataset: { status: m.data.status } }, m.data.status.slice(0, 20)) : null,
    ),
    h("div", { class: "since", title: `updated ${new Date(m.updated_at).toLocaleString()}` }, sinceText(m, now)),
    h(
      "ul",
      { class: "connections", "aria-label": "Connections" },
      m.connections.map((c) => h("li", { title: `joined ${new Date(c.joined_at).toLocaleString()}` }, c.connection_id)),
    ),
    h("pre", { class: "data" }, JSON.stringify(m.data, null, 2)),
  );
}

// ---- selection ----

function select(app, channel) {
  const changed = app !== selection.app || channel !== selection.channel;
  selection.app = app;
  selection.channel = channel;
  const params = new URLSearchParams();
  if (app) params.set("app", app);
  if (channel) params.set("channel", channel);
  history.replaceState(null, "", `#${params}`);
  if (!changed) return;
  ui.detailChannel.textContent = channel ? `#${channel}` : "";
  ui.detailMeta.textContent = "";
  ui.detailEmpty.hidden = false;
  ui.detailEmpty.textContent = channel ? "Loading…" : "Pick a channel to see its members and its events live.";
  memberCards.clear();
  ui.memberList.replaceChildren();
  for (const row of ui.channelRows.children) row.setAttribute("aria-selected", String(row.dataset.channel === channel));
  startTail(app, channel);
  poll();
}

// ---- the live tail ----

let tail; // { client, ticket }
let tailTicket = 0;
let paused = false;
let held = [];
let hiddenEphemeral = 0;

function setTailState(state, text) {
  ui.tailState.dataset.state = state;
  ui.tailState.textContent = text;
}

async function startTail(app, channel) {
  const ticket = ++tailTicket;
  const previous = tail;
  tail = undefined;
  await previous?.client.close().catch(() => {});
  clearEvents();
  if (!app || !channel) {
    setTailState("idle", "idle");
    return;
  }
  setTailState("connecting", "connecting…");
  const mint = () => api(`/api/apps/${enc(app)}/channels/${enc(channel)}/watch-token`, { method: "POST" });
  try {
    const first = await mint();
    if (ticket !== tailTicket) return;
    let unused = first.token;
    const client = new RollcallClient({
      url: wsUrl(),
      appKey: first.app_key,
      // Called before every connection attempt: a reconnect gets a fresh token.
      token: async () => {
        const token = unused ?? (await mint()).token;
        unused = undefined;
        return token;
      },
    });
    tail = { client, ticket };
    client.on("state", ({ state }) => {
      if (ticket !== tailTicket) return;
      const labels = { connected: "watching", connecting: "connecting…", reconnecting: "reconnecting…", closed: "closed", idle: "idle" };
      setTailState(state, labels[state] ?? state);
    });
    await client.connect();
    const ch = client.channel(channel);
    ch.subscribe((e) => {
      const detail =
        e.action === "join"
          ? compactJson(e.member.data)
          : e.action === "update"
            ? `${e.reason}${e.reason === "data" || e.reason === "reconciled" ? ` ${compactJson(e.member.data)}` : ` → ${e.member.connections.length} connection${e.member.connections.length === 1 ? "" : "s"}`}`
            : `after ${ago(e.member.joinedAt, e.ts ?? Date.now()).replace(" ago", "")}`;
      addEvent(e.action, who(e.clientId, e.member), detail, e.ts, e.seq);
      refreshAfterEvent();
    });
    const sender = (m) => (m.clientId ? who(m.clientId, ch.get(m.clientId)) : { label: m.connectionId, id: m.connectionId });
    ch.messages.subscribe((m) => addEvent("message", sender(m), compactJson(m.data), m.ts, m.seq));
    ch.ephemeral.subscribe((m) => {
      if (ui.showEphemeral.checked) addEvent("ephemeral", sender(m), compactJson(m.data), m.ts);
      else {
        hiddenEphemeral += 1;
        ui.showEphemeral.parentElement.lastChild.textContent = ` ephemeral (${hiddenEphemeral} hidden)`;
      }
    });
    ch.typing.subscribe((ids) =>
      addEvent(
        "typing",
        { label: ids.length ? ids.map((id) => who(id, ch.get(id)).label).join(", ") : "—", id: ids.join(", ") },
        ids.length ? `${ids.join(", ")} typing` : "nobody typing",
      ),
    );
    ch.on("resync", (info) => addEvent("resync", "", `${info.cause}: ${info.members} members, ${info.changes} changes`));
    const members = await ch.watch();
    if (ticket !== tailTicket) return;
    addEvent("watch", "", `watching #${channel}: ${members.length} ${members.length === 1 ? "member" : "members"} at seq ${ch.seq}`);
  } catch (error) {
    if (error instanceof SignedOut) location.reload();
    if (ticket === tailTicket) {
      setTailState("closed", "failed");
      addEvent("error", "", error?.message ?? String(error));
    }
  }
}

function clearEvents() {
  held = [];
  hiddenEphemeral = 0;
  ui.showEphemeral.parentElement.lastChild.textContent = " ephemeral";
  ui.events.replaceChildren();
  ui.eventsEmpty.hidden = false;
}

/** How the tail names a client: its member name, with the client id on hover. */
function who(clientId, member) {
  return { label: member ? memberName(member) : clientId, id: clientId };
}

function addEvent(kind, actor, what, ts = Date.now(), seq) {
  const { label, id } = typeof actor === "string" ? { label: actor, id: actor } : actor;
  const el = h(
    "li",
    { class: "event", dataset: { kind, clientId: id } },
    h("span", { class: "time" }, preciseClock(ts)),
    h("span", { class: "kind" }, kind),
    h("span", { class: "who", title: id }, label),
    h("span", { class: "what" }, seq !== undefined ? `#${seq} ${what}` : what),
  );
  if (paused) {
    held.push(el);
    if (held.length > EVENTS_MAX) held.shift();
    ui.pause.textContent = `Resume (${held.length})`;
    return;
  }
  show(el);
}

function show(...els) {
  ui.eventsEmpty.hidden = true;
  ui.events.prepend(...els.reverse());
  while (ui.events.children.length > EVENTS_MAX) ui.events.lastElementChild?.remove();
}

ui.pause.addEventListener("click", () => {
  paused = !paused;
  ui.pause.textContent = paused ? "Resume" : "Pause";
  if (!paused && held.length) {
    show(...held);
    held = [];
  }
});
ui.clear.addEventListener("click", clearEvents);
ui.app.addEventListener("change", () => select(ui.app.value, ""));
let filterTimer;
ui.filter.addEventListener("input", () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(poll, 200);
});
window.addEventListener("pagehide", () => tail?.client.close());

// ---- start ----

{
  const { app, channel } = selection;
  selection.app = selection.channel = "";
  if (app) select(app, channel);
  else poll();
}
