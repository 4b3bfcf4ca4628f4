// The React hooks, rendered for real with react-test-renderer against a real server.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as React from "react";
import TestRenderer, { act, type ReactTestRenderer } from "react-test-renderer";

import type { Channel, RollcallClient } from "../src/index.js";
import { RollcallProvider, usePresence, useTyping } from "../src/react.js";
import { Clients, TestServer, channelName, sleep, waitUntil } from "./harness.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let server: TestServer;
const clients = new Clients(() => server);

before(async () => {
  server = await TestServer.start();
});

after(async () => {
  await clients.closeAll();
  await server?.dispose();
});

/** Lets React and the sockets run (inside act) until the rendered text satisfies `check`. */
async function renderedUntil(renderer: ReactTestRenderer, check: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    await act(async () => {
      await sleep(10);
    });
    const text = textOf(renderer);
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; rendered: ${JSON.stringify(text)}`);
  }
}

function textOf(renderer: ReactTestRenderer): string {
  const json = renderer.toJSON();
  if (json === null || Array.isArray(json)) return "";
  return (json.children ?? []).join("");
}

function Room(props: { channel: Channel | string; enter?: { name: string } }): React.ReactElement {
  const options = props.enter ? { enter: props.enter } : {};
  const { members, count, status } = usePresence(props.channel, options);
  const names = members.map((m) => `${m.clientId}(${String(m.data["name"] ?? "")})`).join(",");
  return React.createElement("p", null, `${status}|${count}|${names}`);
}

describe("usePresence", () => {
  it("renders the members, count and status, and follows joins, updates and leaves", async () => {
    const name = channelName();
    const alice = await clients.connect("alice");
    const bob = await clients.connect("bob");
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = TestRenderer.create(React.createElement(Room, { channel: alice.channel(name), enter: { name: "Alice" } }));
    });
    assert.match(textOf(renderer), /^(detached|attaching|attached)\|/);
    await renderedUntil(renderer, (t) => t === "attached|1|alice(Alice)", "alice is in");

    const b = bob.channel(name);
    await b.enter({ name: "Bob" });
    await renderedUntil(renderer, (t) => t === "attached|2|alice(Alice),bob(Bob)", "bob shows up");
    await b.update({ name: "Robert" });
    await renderedUntil(renderer, (t) => t === "attached|2|alice(Alice),bob(Robert)", "bob's new name shows");
    await b.leave();
    await renderedUntil(renderer, (t) => t === "attached|1|alice(Alice)", "bob is gone");

    // New enter data re-renders into an update.
    await act(async () => {
      renderer.update(React.createElement(Room, { channel: alice.channel(name), enter: { name: "Alicia" } }));
    });
    await renderedUntil(renderer, (t) => t === "attached|1|alice(Alicia)", "alice renamed");

    // Unmounting leaves the channel.
    await b.watch();
    await waitUntil(() => b.isPresent("alice"), "bob watches alice");
    await act(async () => {
      renderer.unmount();
    });
    await waitUntil(() => !b.isPresent("alice"), "alice left on unmount");
    assert.equal(alice.channel(name).status, "detached");
  });

  it("works with a channel name under RollcallProvider, in observe mode, with useTyping", async () => {
    const name = channelName();
    const carol = await clients.connect("carol");
    const dave = await clients.connect("dave");
    await carol.channel(name).enter({ name: "Carol" });

    function Typists(): React.ReactElement {
      const { typing } = useTyping(name);
      return React.createElement("span", null, typing.join(","));
    }
    function App(props: { client: RollcallClient }): React.ReactElement {
      return React.createElement(
        RollcallProvider,
        { client: props.client },
        React.createElement(Room, { channel: name }),
        React.createElement(Typists),
      );
    }
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = TestRenderer.create(React.createElement(App, { client: dave }));
    });
    const textAll = () => {
      const json = renderer.toJSON();
      const parts = Array.isArray(json) ? json : json ? [json] : [];
      return parts.map((p) => (p.children ?? []).join("")).join("#");
    };
    // Observe mode: nothing is subscribed until the app does it.
    assert.equal(textAll(), "detached|0|#");
    await act(async () => {
      await dave.channel(name).watch();
    });
    await renderedUntil(renderer, () => textAll() === "attached|1|carol(Carol)#", "dave's watch shows carol");
    carol.channel(name).typing.start();
    await renderedUntil(renderer, () => textAll() === "attached|1|carol(Carol)#carol", "carol typing shows");
    carol.channel(name).typing.stop();
    await renderedUntil(renderer, () => textAll() === "attached|1|carol(Carol)#", "carol stopped typing");
    await act(async () => {
      renderer.unmount();
    });
    assert.equal(dave.channel(name).status, "attached", "observe mode does not leave on unmount");
  });

  it("survives StrictMode's mount, unmount, mount: one member, one join seen by others", async () => {
    const name = channelName();
    const erin = await clients.connect("erin");
    const frank = await clients.connect("frank");
    const f = frank.channel(name);
    await f.watch();
    const seen: string[] = [];
    f.subscribe((e) => seen.push(`${e.action}:${e.clientId}`));
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = TestRenderer.create(
        React.createElement(React.StrictMode, null, React.createElement(Room, { channel: erin.channel(name), enter: { name: "Erin" } })),
      );
    });
    await renderedUntil(renderer, (t) => t === "attached|1|erin(Erin)", "erin is in");
    await waitUntil(() => f.isPresent("erin"), "frank sees erin");
    // The first mount's enter and leave may or may not have reached the server first; what
    // matters is that erin ends up present exactly once and her list is right.
    assert.equal(seen.at(-1), "join:erin");
    assert.equal(erin.channel(name).gapCount, 0);
    await act(async () => {
      renderer.unmount();
    });
    await waitUntil(() => !f.isPresent("erin"), "erin left on unmount");
  });
});
