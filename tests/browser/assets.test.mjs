// The SDK modules embedded in the server (crates/server/assets/sdk/) are the SDK's current
// source compiled: a change to clients/js/src without scripts/build-web-assets fails here.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import { ROOT } from "./harness.mjs";

test("the embedded SDK modules are up to date with clients/js/src", () => {
  const result = spawnSync("bash", [join(ROOT, "scripts", "build-web-assets"), "--check"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
});
