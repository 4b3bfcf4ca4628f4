// How long to wait before each reconnect attempt.

export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 250. */
  initialMs?: number;
  /** Longest delay, in ms. Default 30000. */
  maxMs?: number;
  /** Growth factor per attempt (below 1 counts as 1). Default 2. */
  multiplier?: number;
  /** Largest fraction of a delay removed at random, 0 to 1. Default 0.5. */
  jitter?: number;
  /** Give up after this many failed attempts in a row. Default: never. */
  maxAttempts?: number;
}

export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  readonly jitter: number;
  readonly maxAttempts: number;
}

export function backoff(options: BackoffOptions = {}): Backoff {
  return {
    initialMs: options.initialMs ?? 250,
    maxMs: options.maxMs ?? 30_000,
    multiplier: options.multiplier ?? 2,
    jitter: options.jitter ?? 0.5,
    maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
}

/**
 * The delay before retry `attempt` (1 for the first): `initial × multiplier^(attempt-1)`, capped
 * at `max`, then shortened by a random fraction of up to `jitter` of itself (`unit` is a sample
 * from [0, 1)). The randomness matters: a server restart disconnects every client at once, and
 * without it they would all come back at the same instants too.
 */
export function backoffDelay(policy: Backoff, attempt: number, unit: number): number {
  const growth = Number.isFinite(policy.multiplier) ? Math.max(1, policy.multiplier) : 1;
  const exponent = Math.min(Math.max(0, attempt - 1), 64);
  const base = Math.min(Math.max(0, policy.initialMs) * growth ** exponent, policy.maxMs);
  const jitter = Math.min(Math.max(policy.jitter, 0), 1);
  const cut = jitter * Math.min(Math.max(unit, 0), 1);
  return Math.round(base * (1 - cut));
}
