// The README's runnable examples (examples/*.mjs), run as a user would, against a real server and
// the built package.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { TestServer } from "./harness.js";

const PACKAGE = fileURLToPath(new URL("../../", import.meta.url));
let server: TestServer;

before(async () => {
  server = await TestServer.start();
});

after(async () => {
  await server?.dispose();
});

function run(example: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [`examples/${example}`],
      { cwd: PACKAGE, env: { ...process.env, ROLLCALL_URL: server.url }, timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${example} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

describe("examples", () => {
  it("quickstart.mjs", async () => {
    const out = await run("quickstart.mjs");
    for (const line of [
      "alice sees bob: join",
      "members: alice (Alice), bob (Bob)",
      'alice sees bob update: {"name":"Bob","status":"away"}',
      "typing: [bob]",
      'alice gets from bob: {"text":"hello"}',
      "alice sees bob: leave",
      "members: alice (count 1)",
    ]) {
      assert.ok(out.split("\n").includes(line), `missing ${JSON.stringify(line)} in:\n${out}`);
    }
  });

  it("invitations.mjs", async () => {
    const out = await run("invitations.mjs");
    assert.match(out, /^ann invited bob \(inv_[0-9a-f]{32}, delivered to 1 connection\)$/m);
    assert.match(out, /^bob is invited to game-7 by ann: \{"note":"rematch\?"\}$/m);
    assert.match(out, /^bob is in game-7 with ann, bob$/m);
    assert.match(out, /^bob accepted$/m);
  });
});
