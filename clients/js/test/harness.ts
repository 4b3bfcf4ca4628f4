// Test harness: a real rollcall server per test file (the binary built by `cargo build -p
// rollcall`), real WebSocket clients (`ws`), and bounded waits. Every server started here is
// killed after the tests, even when they fail.

import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";

import { RollcallClient, type ClientOptions, type WebSocketConstructor, type WebSocketLike } from "../src/index.js";

/** The repository root: this file runs from clients/js/build-test/test/. */
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export const ROLLCALL_BIN = process.env["ROLLCALL_BIN"] ?? join(ROOT, "target", "debug", "rollcall");

const live = new Set<ChildProcess>();
function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}

export interface ServerOptions {
  /** Extra `rollcall serve` arguments. */
  args?: string[];
  /** A TOML configuration file's content (given with --config). */
  config?: string;
}

/** A `rollcall serve` process listening on 127.0.0.1 (port 0 at first start, then the same port). */
export class TestServer {
  private child: ChildProcess | undefined;
  private output = "";
  port = 0;
  private configDir: string | undefined;

  private constructor(private readonly options: ServerOptions) {}

  static async start(options: ServerOptions = {}): Promise<TestServer> {
    if (!existsSync(ROLLCALL_BIN)) {
      throw new Error(`${ROLLCALL_BIN} does not exist: run \`cargo build -p rollcall\` first`);
    }
    const server = new TestServer(options);
    await server.launch("127.0.0.1:0");
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Kills the server (SIGKILL by default: no goodbye to the clients) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill(signal);
      await withTimeout(exited, 10_000, "the server did not exit");
    }
    live.delete(child);
  }

  /** Starts the server again on the same port (retrying while the port is still being released). */
  async restart(): Promise<void> {
    await this.stop();
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await this.launch(`127.0.0.1:${this.port}`);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
  }

  /** Stops the server and removes its config file. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.configDir) rmSync(this.configDir, { recursive: true, force: true });
  }

  private launch(listen: string): Promise<void> {
    const args = ["serve", "--listen", listen, ...(this.options.args ?? [])];
    if (this.options.config !== undefined) {
      if (!this.configDir) {
        this.configDir = mkdtempSync(join(tmpdir(), "rollcall-js-"));
        writeFileSync(join(this.configDir, "rollcall.toml"), this.options.config);
      }
      args.push("--config", join(this.configDir, "rollcall.toml"));
    }
    const child = spawn(ROLLCALL_BIN, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ROLLCALL_LOG: process.env["ROLLCALL_LOG"] ?? "warn" },
    });
    live.add(child);
    this.child = child;
    this.output = "";
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          this.output += chunk.toString();
          const match = /listening on http:\/\/([^\s]+)/.exec(this.output);
          if (match?.[1]) {
            this.port = Number(new URL(`http://${match[1]}`).port);
            resolve();
          }
        };
        child.stdout?.on("data", onData);
        child.stderr?.on("data", onData);
        child.once("exit", (code) => {
          live.delete(child);
          reject(new Error(`rollcall exited with ${code} before listening:\n${this.output}`));
        });
      }),
      10_000,
      "the server did not print its banner",
    ).catch(async (error: unknown) => {
      child.kill("SIGKILL");
      live.delete(child);
      this.child = undefined;
      throw error;
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns true; fails after `ms`. */
export async function waitUntil(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(10);
  }
}

/** Clients made by `connect`, closed by `closeAll`. */
export class Clients {
  private readonly clients: RollcallClient[] = [];

  constructor(private readonly server: () => TestServer) {}

  make(options: Partial<ClientOptions> = {}): RollcallClient {
    const client = new RollcallClient({
      url: this.server().url,
      WebSocket,
      reconnect: { initialMs: 50, maxMs: 500 },
      requestTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      ...options,
    });
    this.clients.push(client);
    return client;
  }

  async connect(clientId: string, options: Partial<ClientOptions> = {}): Promise<RollcallClient> {
    const client = this.make({ clientId, ...options });
    await withTimeout(client.connect(), 5_000, `${clientId} connects`);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
  }
}

/** Collects what a subscription delivers. */
export function collect<T>(subscribe: (listener: (value: T) => void) => () => void): T[] & { stop(): void } {
  const items = [] as unknown as T[] & { stop(): void };
  const stop = subscribe((value) => items.push(value));
  items.stop = stop;
  return items;
}

/** An HS256 token, as a backend would mint it. */
export function mintToken(claims: Record<string, unknown>, secret: string): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** A unique channel name per call, so tests in one file do not see each other. */
let counter = 0;
export function channelName(prefix = "room"): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/**
 * A `ws` WebSocket whose incoming frames can be lost: those `drop` picks, and every frame in both
 * directions once `silence()` is called (a path that died without closing). Instances are listed
 * in `sockets`, newest last.
 */
export function lossyWebSocket(drop: (frame: Record<string, unknown>) => boolean = () => false): WebSocketConstructor & {
  sockets: { silence(): void }[];
} {
  const sockets: { silence(): void }[] = [];
  class LossyWebSocket implements WebSocketLike {
    static sockets = sockets;
    private readonly inner: WebSocket;
    private silent = false;
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;

    constructor(url: string) {
      this.inner = new WebSocket(url);
      this.inner.onopen = (e) => this.onopen?.(e);
      this.inner.onclose = (e) => this.onclose?.(e);
      this.inner.onerror = (e) => this.onerror?.(e);
      this.inner.onmessage = (e) => {
        if (this.silent) return;
        if (!drop(JSON.parse(String(e.data)) as Record<string, unknown>)) this.onmessage?.(e);
      };
      sockets.push(this);
    }

    silence(): void {
      this.silent = true;
    }

    get readyState(): number {
      return this.inner.readyState;
    }

    send(data: string): void {
      if (!this.silent) this.inner.send(data);
    }

    close(code?: number, reason?: string): void {
      this.inner.close(code, reason);
    }

    terminate(): void {
      this.inner.terminate();
    }
  }
  return LossyWebSocket;
}
