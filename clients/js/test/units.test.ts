// Pure parts, without a server: sequence bookkeeping, merge patch, reconciliation, backoff.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { backoff, backoffDelay } from "../src/backoff.js";
import { connectionUrl } from "../src/client.js";
import { MemberList } from "../src/members.js";
import { jsonEqual, mergePatch } from "../src/merge-patch.js";
import { SequenceTracker, type Step } from "../src/sequence.js";
import type { Member } from "../src/types.js";

function kinds(steps: Step<string>[]): string[] {
  return steps.map((s) => `${s.kind}:${s.item}`);
}

describe("SequenceTracker", () => {
  it("applies in-order events and ignores ones already accounted for", () => {
    const t = new SequenceTracker<string>();
    t.base(4);
    assert.deepEqual(kinds(t.event(5, "a")), ["apply:a"]);
    assert.deepEqual(kinds(t.event(5, "a-again")), []);
    assert.deepEqual(kinds(t.event(6, "b")), ["apply:b"]);
    assert.equal(t.seq, 6);
    assert.equal(t.isBroken, false);
  });

  it("declares a gap when numbers are skipped and nothing can explain it", () => {
    const t = new SequenceTracker<string>();
    t.base(1);
    assert.deepEqual(kinds(t.event(3, "c")), ["missed:c"]);
    assert.equal(t.isBroken, true);
    assert.equal(t.gapCount, 1);
    // Until a fresh base, everything is "missed".
    assert.deepEqual(kinds(t.event(4, "d")), ["missed:d"]);
    t.base(4);
    assert.deepEqual(kinds(t.event(5, "e")), ["apply:e"]);
  });

  it("an un-echoed publish ack arriving where its event would have been fills the number", () => {
    const t = new SequenceTracker<string>();
    t.base(2);
    t.publishSent();
    assert.deepEqual(kinds(t.publishAnswered(3)), []);
    assert.deepEqual(kinds(t.event(4, "d")), ["apply:d"]);
    assert.equal(t.gapCount, 0);
  });

  it("holds events while an un-echoed publish is unanswered, and releases them when its ack fills the hole", () => {
    const t = new SequenceTracker<string>();
    t.base(2);
    t.publishSent();
    // Someone else's events overtake our ack (a server or proxy that reorders).
    assert.deepEqual(kinds(t.event(4, "d")), []);
    assert.deepEqual(kinds(t.event(5, "e")), []);
    assert.equal(t.isHolding, true);
    assert.deepEqual(kinds(t.publishAnswered(3)), ["apply:d", "apply:e"]);
    assert.equal(t.isHolding, false);
    assert.equal(t.gapCount, 0);
    assert.equal(t.seq, 5);
  });

  it("with several publishes outstanding, releases as far as the acks reach", () => {
    const t = new SequenceTracker<string>();
    t.base(0);
    t.publishSent();
    t.publishSent();
    assert.deepEqual(kinds(t.event(2, "b")), []);
    assert.deepEqual(kinds(t.event(4, "d")), []);
    assert.deepEqual(kinds(t.publishAnswered(1)), ["apply:b"]);
    assert.equal(t.isHolding, true);
    assert.deepEqual(kinds(t.publishAnswered(3)), ["apply:d"]);
    assert.equal(t.gapCount, 0);
  });

  it("a hole that the publish acks do not explain becomes a gap once they are all in", () => {
    const t = new SequenceTracker<string>();
    t.base(0);
    t.publishSent();
    assert.deepEqual(kinds(t.event(3, "c")), []);
    assert.deepEqual(kinds(t.publishAnswered(1)), ["missed:c"]);
    assert.equal(t.isBroken, true);
  });

  it("a duplicate ack (seq of the first delivery) and an error never account for a number", () => {
    const t = new SequenceTracker<string>();
    t.base(5);
    t.publishSent();
    t.publishSent();
    // A duplicate names seq 6 (say, from an earlier life of the channel): it must not be claimed.
    assert.deepEqual(kinds(t.publishAnswered(undefined)), []);
    assert.deepEqual(kinds(t.publishAnswered(undefined)), []);
    assert.deepEqual(kinds(t.event(6, "f")), ["apply:f"]);
    assert.equal(t.gapCount, 0);
  });

  it("an echoed publish's ack after its own event changes nothing", () => {
    const t = new SequenceTracker<string>();
    t.base(1);
    // echo:true: the message event (seq 2) precedes the ack, and the ack is not tracked at all.
    assert.deepEqual(kinds(t.event(2, "own-message")), ["apply:own-message"]);
    assert.deepEqual(kinds(t.event(3, "own-update")), ["apply:own-update"]);
    assert.equal(t.gapCount, 0);
  });

  it("giving up on held events makes a gap", () => {
    const t = new SequenceTracker<string>();
    t.base(0);
    t.publishSent();
    t.event(2, "b");
    assert.deepEqual(kinds(t.giveUp()), ["missed:b"]);
    assert.equal(t.isBroken, true);
  });

  it("reset (connection lost) hands back held events and forgets outstanding publishes", () => {
    const t = new SequenceTracker<string>();
    t.base(0);
    t.publishSent();
    t.event(2, "b");
    assert.deepEqual(kinds(t.reset()), ["missed:b"]);
    t.base(10);
    assert.deepEqual(kinds(t.event(12, "l")), ["missed:l"]);
  });

  it("a random interleaving of events and in-place acks never reports a gap", () => {
    for (let round = 0; round < 200; round++) {
      const t = new SequenceTracker<number>();
      t.base(0);
      let seq = 0;
      let outstanding = 0;
      const applied: number[] = [];
      for (let i = 0; i < 50; i++) {
        const r = Math.random();
        if (r < 0.3) {
          t.publishSent();
          outstanding++;
        } else if (r < 0.55 && outstanding > 0) {
          outstanding--;
          seq++;
          for (const s of t.publishAnswered(seq)) if (s.kind === "apply") applied.push(s.item);
        } else if (r < 0.65 && outstanding > 0) {
          outstanding--;
          for (const s of t.publishAnswered(undefined)) if (s.kind === "apply") applied.push(s.item);
        } else {
          seq++;
          for (const s of t.event(seq, seq)) if (s.kind === "apply") applied.push(s.item);
        }
      }
      assert.equal(t.gapCount, 0, `round ${round}`);
      assert.deepEqual(applied, [...applied].sort((a, b) => a - b));
    }
  });
});

describe("mergePatch", () => {
  it("follows RFC 7396 as in docs/protocol.md", () => {
    const data = { status: "online", pos: { x: 1, y: 2 }, drop: true };
    const patch = { status: "away", pos: { y: 3 }, drop: null };
    assert.deepEqual(mergePatch(data, patch), { pos: { x: 1, y: 3 }, status: "away" });
    assert.deepEqual(data, { status: "online", pos: { x: 1, y: 2 }, drop: true }, "input untouched");
  });

  it("compares JSON structurally", () => {
    assert.ok(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
    assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: null }));
    assert.ok(!jsonEqual([1, 2], [2, 1]));
  });
});

function member(clientId: string, data: Record<string, number | string>, devices: number, connectionPrefix = "1"): Member {
  return {
    clientId,
    data,
    joinedAt: 1,
    updatedAt: 1,
    connections: Array.from({ length: devices }, (_, i) => ({ connectionId: `${connectionPrefix}.${i}`, joinedAt: 1 })),
  };
}

describe("MemberList.reconcile", () => {
  it("emits only real differences: leaves, joins, then updates", () => {
    const list = new MemberList();
    list.reconcile("c", [member("ann", { s: 1 }, 1), member("bob", {}, 1), member("cat", {}, 2), member("dan", {}, 1)]);
    const events = list.reconcile("c", [
      member("ann", { s: 2 }, 1),
      member("cat", {}, 1),
      { ...member("dan", {}, 1, "9"), joinedAt: 99, updatedAt: 99 },
      member("eve", {}, 1),
    ]);
    assert.deepEqual(
      events.map((e) => `${e.action}:${e.clientId}${e.reason ? `:${e.reason}` : ""}`),
      ["leave:bob", "join:eve", "update:ann:reconciled", "update:cat:reconciled"],
    );
    assert.deepEqual(list.all().map((m) => m.clientId), ["ann", "cat", "dan", "eve"]);
    assert.equal(list.get("dan")?.joinedAt, 99, "silently renewed");
    assert.deepEqual(list.reconcile("c", [...list.all()]), []);
  });
});

describe("backoff", () => {
  it("grows exponentially to the cap, and jitter only shortens", () => {
    const policy = backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 });
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n, 0)), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(backoffDelay(policy, 1, 1), 50);
    assert.equal(backoffDelay(policy, 1, 0.5), 75);
    assert.equal(backoffDelay(backoff({ multiplier: Number.NaN, initialMs: 10 }), 5, 0), 10);
  });
});

describe("connectionUrl", () => {
  it("adds /ws and the identity to the query string", () => {
    assert.equal(connectionUrl("http://127.0.0.1:7070", { clientId: "ann" }), "ws://127.0.0.1:7070/ws?client_id=ann");
    assert.equal(
      connectionUrl("wss://example.test/ws", { token: "a.b.c", appKey: "k" }),
      "wss://example.test/ws?app=k&token=a.b.c",
    );
  });
});
