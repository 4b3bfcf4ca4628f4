// The operator dashboard in a real browser: refused without the admin token, and with it,
// the members of a room and its events, live.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { PATIENCE_MS, enterRoom, launchBrowser, newPage, screenshot, startServer, uniqueRoom, waitForText } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  assert.ok(server.adminToken, "the server under test needs an admin token (ROLLCALL_ADMIN_TOKEN)");
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the dashboard refuses without the admin token and shows a room's members and events with it", async () => {
  const room = uniqueRoom("standup");
  const ann = await newPage(browser);
  const ben = await newPage(browser);
  const annId = await enterRoom(ann, server.url, room, "Ann Smith", { colour: 1, avatar: 2 });
  const benId = await enterRoom(ben, server.url, room, "Ben", { colour: 4, avatar: 0 });
  await waitForText(ann, "#count", "2");

  // Without the token: the sign-in form, with 401; the API answers 401 too.
  const admin = await newPage(browser, { viewport: { width: 1440, height: 900 } });
  const refused = await admin.goto(`${server.url}/dashboard`);
  assert.equal(refused.status(), 401);
  await admin.locator("input[name=token]").waitFor();
  assert.equal(await admin.locator("#member-list").count(), 0);
  const api = await admin.evaluate(async () => {
    const response = await fetch("/api/stats");
    return { status: response.status, body: await response.json() };
  });
  assert.equal(api.status, 401);
  assert.equal(api.body.error, "unauthorized");
  await screenshot(admin, "dashboard-login");

  // A wrong token is refused, and says so.
  await admin.fill("input[name=token]", "not-the-admin-token");
  await admin.click("button[type=submit]");
  await admin.locator(".form-error", { hasText: "not the admin token" }).waitFor();
  assert.equal(await admin.locator("#member-list").count(), 0);

  // The right one opens the dashboard.
  await admin.fill("input[name=token]", server.adminToken);
  const [opened] = await Promise.all([
    admin.waitForResponse((r) => r.url().endsWith("/dashboard") && r.request().method() === "GET"),
    admin.click("button[type=submit]"),
  ]);
  assert.equal(opened.status(), 200);
  const row = admin.locator(`#channel-rows tr[data-channel="${room}"]`);
  await row.waitFor();
  assert.equal((await row.locator("td").nth(1).textContent()).trim(), "2");
  await row.click();
  await admin.locator(`#member-list .member-card[data-client-id="${annId}"]`).waitFor();
  await admin.locator(`#member-list .member-card[data-client-id="${benId}"]`).waitFor();
  assert.equal(await admin.locator("#member-list .member-card").count(), 2);
  const annCard = admin.locator(`.member-card[data-client-id="${annId}"]`);
  assert.match(await annCard.textContent(), /Ann Smith/);
  assert.match(await annCard.locator("pre.data").textContent(), /"status": "online"/);
  assert.equal(await annCard.locator(".connections li").count(), 1);
  assert.ok(Number(await admin.locator("#stat-connections").textContent()) >= 2);

  // The tail watches the room: a message, an update and a join arrive live.
  await waitForText(admin, "#tail-state", "watching");
  await admin.locator('.event[data-kind="watch"]').waitFor();
  await ann.locator("#message").fill("Standup in 5 minutes");
  await ann.press("#message", "Enter");
  await admin.locator('.event[data-kind="message"]', { hasText: "Standup in 5 minutes" }).waitFor();
  await ben.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await admin.locator('.event[data-kind="update"]', { hasText: '"status":"away"' }).waitFor();
  const cleo = await newPage(browser);
  const cleoId = await enterRoom(cleo, server.url, room, "Cleo", { colour: 7, avatar: 6 });
  await admin.locator(`.event[data-kind="join"][data-client-id="${cleoId}"]`, { hasText: "Cleo" }).waitFor();
  await admin.locator(`#member-list .member-card[data-client-id="${cleoId}"]`).waitFor();
  await ann.locator("#message").pressSequentially("Agenda");
  await admin.locator('.event[data-kind="typing"]').first().waitFor();
  await waitForText(admin, "#detail-channel", `#${room}`);
  await admin.waitForTimeout(200);
  await screenshot(admin, "dashboard");

  // A member who leaves disappears from the list.
  await cleo.context().close();
  await admin.locator(`.event[data-kind="leave"][data-client-id="${cleoId}"]`).waitFor();
  await admin
    .locator(`#member-list .member-card[data-client-id="${cleoId}"]`)
    .waitFor({ state: "detached", timeout: PATIENCE_MS });

  // Signing out closes it again.
  await admin.click(".logout button");
  await admin.locator("input[name=token]").waitFor();

  assert.deepEqual(admin.errors.filter((e) => !/401/.test(e.message)), []);
  for (const page of [ann, ben, admin]) await page.context().close();
});
