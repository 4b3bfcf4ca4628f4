// Small helpers shared by the demo room and the dashboard. No framework: a page is a handful of
// lists, so the DOM is built with h() and updated in place.

/** Creates an element: h("li", { class: "x", dataset: { id } }, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") for (const [p, v] of Object.entries(value)) el.style.setProperty(p, v);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** The page's `<meta name=…>` value. */
export function meta(name) {
  return document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") ?? "";
}

/** The WebSocket endpoint of the server that served the page. */
export function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

export const PALETTE = ["#e5484d", "#f76b15", "#e2a336", "#30a46c", "#12a594", "#0090ff", "#6e56cf", "#d6409f"];

/** A stable colour for an id, from the palette. */
export function colourFor(id) {
  let hash = 0;
  for (const c of String(id)) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** The member's colour when it is a valid #rrggbb, else one derived from its id. */
export function memberColour(member) {
  const colour = member?.data?.color;
  return typeof colour === "string" && /^#[0-9a-f]{6}$/i.test(colour) ? colour : colourFor(member?.clientId ?? "");
}

/** The member's display name: `data.name` when it is a non-empty string, else its client id. */
export function memberName(member) {
  const name = member?.data?.name;
  return typeof name === "string" && name.trim() !== "" ? name.trim().slice(0, 40) : (member?.clientId ?? "someone");
}

/** One or two letters for an avatar. */
export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]].map((w) => Array.from(w)[0]) : Array.from(words[0] ?? "?").slice(0, 1);
  return letters.join("").toUpperCase();
}

/** A round avatar: the member's emoji, or its initials, on its colour. */
export function avatar(member, size = "md") {
  const emoji = typeof member?.data?.avatar === "string" ? Array.from(member.data.avatar).slice(0, 2).join("") : "";
  return h(
    "span",
    { class: `avatar avatar-${size}${emoji ? " avatar-emoji" : ""}`, style: { "--c": memberColour(member) }, "aria-hidden": "true" },
    emoji || initials(memberName(member)),
  );
}

/** "12:04". */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** "12:04:31.250" (the event tail). */
export function preciseClock(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "just now", "42 s", "5 min", "3 h", "2 d". */
export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** "1 h 02 min" for an uptime in seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** JSON on one line, cut to `max` characters. */
export function compactJson(value, max = 160) {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Calls `fn` at most once per `ms`, always delivering the last call (leading and trailing). */
export function throttle(fn, ms) {
  let last = 0;
  let timer;
  let pending;
  return (...args) => {
    pending = args;
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn(...pending);
      pending = undefined;
    } else if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        last = Date.now();
        if (pending) fn(...pending);
        pending = undefined;
      }, wait);
    }
  };
}
