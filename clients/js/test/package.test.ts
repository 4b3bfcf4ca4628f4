// The built package (dist/), as an application imports it: by name, through `exports`, with no
// runtime dependency but React for the React entry point.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));

// Variables, so the type checker does not need dist/ to exist before the build.
const MAIN: string = "@rollcall/client";
const REACT: string = "@rollcall/client/react";

describe("the built package", () => {
  it("exports the client by name, and the React hook as a subpath", async () => {
    const main = (await import(MAIN)) as Record<string, unknown>;
    for (const name of ["RollcallClient", "RollcallError", "Channel", "Invitation", "SequenceTracker", "TYPING_KEY"]) {
      assert.ok(name in main, `${name} is exported`);
    }
    const react = (await import(REACT)) as Record<string, unknown>;
    for (const name of ["usePresence", "useTyping", "RollcallProvider", "useRollcall"]) {
      assert.equal(typeof react[name], "function", `${name} is exported`);
    }
    assert.ok(!("usePresence" in main), "the main entry does not pull in React");
  });

  it("ships types and imports nothing outside itself (React only in react.js)", () => {
    const files = readdirSync(DIST);
    assert.ok(files.includes("index.d.ts") && files.includes("react.d.ts"));
    for (const file of files.filter((f) => f.endsWith(".js"))) {
      const source = readFileSync(DIST + file, "utf8");
      const imports = [...source.matchAll(/(?:import|export)[^'"]*from\s*["']([^"']+)["']/g)].map((m) => m[1] ?? "");
      for (const specifier of imports) {
        const allowed = specifier.startsWith("./") || (file === "react.js" && specifier === "react");
        assert.ok(allowed, `${file} imports ${specifier}`);
      }
    }
  });
});
