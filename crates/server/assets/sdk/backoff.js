// How long to wait before each reconnect attempt.
export function backoff(options = {}) {
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
export function backoffDelay(policy, attempt, unit) {
    const growth = Number.isFinite(policy.multiplier) ? Math.max(1, policy.multiplier) : 1;
    const exponent = Math.min(Math.max(0, attempt - 1), 64);
    const base = Math.min(Math.max(0, policy.initialMs) * growth ** exponent, policy.maxMs);
    const jitter = Math.min(Math.max(policy.jitter, 0), 1);
    const cut = jitter * Math.min(Math.max(unit, 0), 1);
    return Math.round(base * (1 - cut));
}
