// What the browser tests share: a rollcall server, a headless Chromium, screenshots.
//
// The server is the one scripts/test-browser started (ROLLCALL_URL, ROLLCALL_ADMIN_TOKEN), or
// else one started here from ROLLCALL_BIN / target/debug/rollcall on a free port.

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = join(ROOT, "target", "screenshots");
/** How long a test waits for something the page should show promptly. */
export const PATIENCE_MS = 10_000;

/** A running server: { url, adminToken, stop() }. */
export async function startServer() {
  if (process.env.ROLLCALL_URL) {
    return { url: process.env.ROLLCALL_URL, adminToken: process.env.ROLLCALL_ADMIN_TOKEN ?? "", stop: async () => {} };
  }
  const bin = process.env.ROLLCALL_BIN ?? join(ROOT, "target", "debug", "rollcall");
  const adminToken = `browser-tests-${process.pid}-admin`;
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0"], {
    env: { ...process.env, ROLLCALL_ADMIN_TOKEN: adminToken, ROLLCALL_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolvePromise, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`rollcall did not start within 20 s: ${seen}`)), 20_000);
    child.once("exit", (code) => reject(new Error(`rollcall exited with ${code}: ${seen}`)));
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on (http:\/\/[^\s]+)/);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    });
  });
  return {
    url,
    adminToken,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Debian's Chromium, headless. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.ROLLCALL_CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 30_000,
  });
}

/** A new page in a new context (its own storage: another person), failing on page errors. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error));
  page.on("console", (message) => {
    if (message.type() === "error") page.errors.push(new Error(message.text()));
  });
  return page;
}

/** Saves a screenshot under target/screenshots/. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** A room name no other test uses. */
export function uniqueRoom(prefix) {
  return `${prefix}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Opens the demo room `room` and enters it as `name`; resolves with the tab's client id. */
export async function enterRoom(page, url, room, name, { colour = 0, avatar = 0 } = {}) {
  await page.goto(`${url}/r/${encodeURIComponent(room)}`);
  await page.fill("#name", name);
  await page.locator("#colours .swatch").nth(colour).click();
  await page.locator("#avatars .avatar-choice").nth(avatar).click();
  await page.click("#enter");
  await page.locator("#room-view").waitFor({ state: "visible" });
  return page.evaluate(() => sessionStorage.getItem("rollcall.demo.id"));
}

/** Waits until `selector` on `page` holds exactly `text`. */
export async function waitForText(page, selector, text) {
  await page.waitForFunction(
    ([s, t]) => document.querySelector(s)?.textContent?.trim() === t,
    [selector, text],
    { timeout: PATIENCE_MS },
  );
}
