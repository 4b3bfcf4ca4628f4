// Sequence-number bookkeeping for one channel on one connection (docs/protocol.md, "Sequence
// numbers"). Pure: no timers, no I/O, so every interleaving can be unit-tested.
//
// Every `join`, `update`, `leave` and `message` event of a channel takes the next number. This
// connection sees all of them except the ones it caused and is not sent:
//
// - its own join / connection_added: the join snapshot's `seq` is that event's number;
// - its own `message` when publishing with `echo: false`: the publish ack's `seq` names it;
// - its own leave: it is no longer subscribed.
//
// The updater does receive its own `update` event (before the ack, which repeats the number), and
// an echoed publish delivers its `message` before the ack: those acks are ignored here, since the
// event already accounted for the number. A duplicate publish ack names the number of the
// *first* delivery, which may belong to an earlier connection or an earlier life of the channel,
// so it never accounts for anything.
//
// An un-echoed publish ack is expected exactly where its event would have been, but this module
// does not rely on that: while such a publish is unanswered, an event that skips numbers is held
// back rather than declared a gap, and released as soon as the acks fill the hole. Only a hole
// that no outstanding publish can explain is a gap.
export class SequenceTracker {
    last = 0;
    broken = false;
    /** Un-echoed publishes sent on this connection whose answer has not arrived. */
    unanswered = 0;
    /** Numbers above `last` that un-echoed publish acks accounted for. */
    claimed = new Set();
    held = [];
    gaps = 0;
    /** The last number accounted for. */
    get seq() {
        return this.last;
    }
    /** True when a gap was found and a fresh member list is needed (and not yet applied). */
    get isBroken() {
        return this.broken;
    }
    /** True while events are held back waiting for un-echoed publish acks. */
    get isHolding() {
        return this.held.length > 0;
    }
    /** How many gaps were found since this tracker was made. */
    get gapCount() {
        return this.gaps;
    }
    /**
     * A snapshot current at `seq` (join, watch, members, accepted invitation): what follows
     * starts at `seq + 1`. Events held until now were sent before the snapshot and are covered by
     * it; they come back as `missed` so that their messages can still be delivered.
     */
    base(seq) {
        this.last = seq;
        this.broken = false;
        for (const n of this.claimed)
            if (n <= seq)
                this.claimed.delete(n);
        return this.release();
    }
    /**
     * The connection ended: nothing outstanding on it will be answered. Held events come back as
     * `missed`. The next `base` starts a new count.
     */
    reset() {
        this.unanswered = 0;
        this.claimed.clear();
        this.broken = false;
        return this.release();
    }
    /** An un-echoed publish was sent on this connection. */
    publishSent() {
        this.unanswered += 1;
    }
    /**
     * The answer to an un-echoed publish: its `seq` when the server delivered it (not for a
     * duplicate), or `undefined` (an error, a duplicate).
     */
    publishAnswered(seq) {
        this.unanswered = Math.max(0, this.unanswered - 1);
        if (seq !== undefined && seq > this.last)
            this.claimed.add(seq);
        if (this.broken)
            return [];
        return this.drain([]);
    }
    /** A sequenced event arrived. */
    event(seq, item) {
        if (this.broken)
            return [{ kind: "missed", item }];
        if (this.held.length > 0) {
            this.held.push({ seq, item });
            return this.drain([]);
        }
        const out = [];
        this.step({ seq, item }, out);
        return out;
    }
    /**
     * Waiting for publish acks took too long: whatever hole is still open is a gap. Returns the
     * held events as `missed`.
     */
    giveUp() {
        if (this.held.length === 0)
            return [];
        this.broken = true;
        this.gaps += 1;
        return this.release();
    }
    release() {
        const held = this.held;
        this.held = [];
        return held.map(({ item }) => ({ kind: "missed", item }));
    }
    advance() {
        while (this.claimed.has(this.last + 1)) {
            this.claimed.delete(this.last + 1);
            this.last += 1;
        }
    }
    /** Processes one event in arrival order; returns false when it had to be held. */
    step(event, out) {
        this.advance();
        if (event.seq <= this.last)
            return true; // already accounted for
        if (event.seq === this.last + 1) {
            this.last = event.seq;
            out.push({ kind: "apply", item: event.item });
            return true;
        }
        if (this.unanswered > 0) {
            this.held.push(event);
            return false;
        }
        this.broken = true;
        this.gaps += 1;
        out.push({ kind: "missed", item: event.item });
        return true;
    }
    drain(out) {
        const queue = this.held;
        this.held = [];
        for (let i = 0; i < queue.length; i++) {
            const event = queue[i];
            if (this.broken) {
                out.push({ kind: "missed", item: event.item });
                continue;
            }
            if (!this.step(event, out)) {
                // Held again (it was pushed back): keep the rest behind it, in order.
                this.held.push(...queue.slice(i + 1));
                break;
            }
        }
        return out;
    }
}
