// The demo room in a real browser: two people in one room see each other, each other's typing,
// messages and cursors, and each other leave.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { enterRoom, launchBrowser, newPage, screenshot, startServer, uniqueRoom, waitForText } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the page is served with its embedded assets and the lobby form", async () => {
  const page = await newPage(browser);
  const response = await page.goto(`${server.url}/?room=anything`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-type"], /^text\/html/);
  assert.equal(await page.inputValue("#room"), "anything");
  const script = await page.evaluate(() => document.querySelector("script[type=module]").src);
  const asset = await page.request.get(script);
  assert.equal(asset.status(), 200);
  assert.match(asset.headers()["content-type"], /^text\/javascript/);
  assert.match(asset.headers()["cache-control"], /immutable/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("two people in a room see each other, typing, messages, cursors, away, and leaving", async () => {
  const room = uniqueRoom("design");
  const alice = await newPage(browser);
  const bob = await newPage(browser);
  const aliceId = await enterRoom(alice, server.url, room, "Alice Liddell", { colour: 6, avatar: 1 });
  assert.match(alice.url(), new RegExp(`/r/${room}$`));
  await waitForText(alice, "#count", "1");
  const bobId = await enterRoom(bob, server.url, room, "Bob", { colour: 5, avatar: 0 });
  assert.notEqual(aliceId, bobId);

  // Each sees the other.
  await alice.locator(`#members .member[data-client-id="${bobId}"]`).waitFor();
  await bob.locator(`#members .member[data-client-id="${aliceId}"]`).waitFor();
  await waitForText(alice, "#count", "2");
  await waitForText(bob, "#count", "2");
  await alice.locator(".notice", { hasText: "Bob joined" }).waitFor();
  assert.match(await bob.locator(".notice").first().textContent(), /1 other is here/);

  // Bob types: Alice is told, in words and in the member list.
  await bob.locator("#message").pressSequentially("Hello Alice");
  await waitForText(alice, "#typing", "Bob is typing…");
  await alice.locator(`.member[data-client-id="${bobId}"][data-status="typing"]`).waitFor();

  // He sends: Alice gets the message and the indicator goes.
  await bob.press("#message", "Enter");
  await alice.locator(".msg", { hasText: "Hello Alice" }).waitFor();
  await bob.locator(".msg.mine", { hasText: "Hello Alice" }).waitFor();
  await waitForText(alice, "#typing", "");
  await alice.locator(`.member[data-client-id="${bobId}"][data-status="online"]`).waitFor();

  // Alice answers.
  await alice.locator("#message").pressSequentially("Hi Bob! Move your pointer over the board");
  await alice.press("#message", "Enter");
  await bob.locator(".msg", { hasText: "Hi Bob!" }).waitFor();

  // Bob's pointer over the board shows as his cursor on Alice's board.
  const board = await bob.locator("#board").boundingBox();
  await bob.mouse.move(board.x + board.width * 0.3, board.y + board.height * 0.4);
  await bob.mouse.move(board.x + board.width * 0.62, board.y + board.height * 0.35, { steps: 8 });
  const cursor = alice.locator(`#board .cursor[data-client-id="${bobId}"]`);
  await cursor.waitFor();
  assert.equal((await cursor.textContent()).trim(), "Bob");

  // Bob's tab goes to the background: he is away for Alice.
  await bob.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await alice.locator(`.member[data-client-id="${bobId}"][data-status="away"]`).waitFor();
  await bob.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await alice.locator(`.member[data-client-id="${bobId}"][data-status="online"]`).waitFor();

  // A third person, on a phone; then a scene for the screenshots.
  const carol = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const carolId = await enterRoom(carol, server.url, room, "Carol", { colour: 3, avatar: 4 });
  await waitForText(alice, "#count", "3");
  await carol.locator("#message").fill("Hey both — joining from my phone");
  await carol.press("#message", "Enter");
  await alice.locator(".msg", { hasText: "joining from my phone" }).waitFor();
  await bob.mouse.move(board.x + board.width * 0.7, board.y + board.height * 0.55, { steps: 5 });
  const carolBoard = await carol.locator("#board").boundingBox();
  await carol.mouse.move(carolBoard.x + carolBoard.width * 0.25, carolBoard.y + carolBoard.height * 0.7);
  await alice.locator(`#board .cursor[data-client-id="${carolId}"]`).waitFor();
  await bob.locator("#message").pressSequentially("Nice");
  await waitForText(alice, "#typing", "Bob is typing…");
  await alice.waitForTimeout(300); // let the cursors glide to where they stop
  await screenshot(alice, "demo-desktop");
  await carol.locator(`#board .cursor[data-client-id="${bobId}"]`).waitFor();
  await screenshot(carol, "demo-phone");
  await carol.context().close();
  await alice.locator(".notice", { hasText: "Carol left" }).waitFor();

  // Bob closes his window: Alice sees him leave, at once (a clean close, no timeout).
  await bob.context().close();
  await alice.locator(".notice", { hasText: "Bob left" }).waitFor();
  await alice.locator(`#members .member[data-client-id="${bobId}"]`).waitFor({ state: "detached" });
  await alice.locator(`#board .cursor[data-client-id="${bobId}"]`).waitFor({ state: "detached" });
  await waitForText(alice, "#count", "1");
  await waitForText(alice, "#typing", "");

  assert.deepEqual(alice.errors, []);
  await alice.context().close();
});

test("three typists are counted, not named", async () => {
  const room = uniqueRoom("typists");
  const watcher = await newPage(browser);
  await enterRoom(watcher, server.url, room, "Watcher");
  const typists = [];
  for (const name of ["Ann", "Ben", "Cat"]) {
    const page = await newPage(browser);
    await enterRoom(page, server.url, room, name);
    typists.push(page);
  }
  await waitForText(watcher, "#count", "4");
  await typists[0].locator("#message").pressSequentially("a");
  await waitForText(watcher, "#typing", "Ann is typing…");
  await typists[1].locator("#message").pressSequentially("b");
  await waitForText(watcher, "#typing", "Ann and Ben are typing…");
  await typists[2].locator("#message").pressSequentially("c");
  await waitForText(watcher, "#typing", "3 people are typing…");
  for (const page of typists) await page.context().close();
  await waitForText(watcher, "#typing", "");
  await waitForText(watcher, "#count", "1");
  await watcher.context().close();
});

test("a reload keeps the tab in its room, as the same person", async () => {
  const room = uniqueRoom("reload");
  const page = await newPage(browser);
  const id = await enterRoom(page, server.url, room, "Dora");
  await page.reload();
  await page.locator("#room-view").waitFor({ state: "visible" });
  await page.locator(`#members .member[data-client-id="${id}"]`).waitFor();
  await waitForText(page, "#count", "1");
  await page.click("#leave");
  await page.locator("#lobby").waitFor({ state: "visible" });
  assert.equal(await page.inputValue("#name"), "Dora");
  await page.context().close();
});
