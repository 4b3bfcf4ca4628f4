// A channel's member list as this client knows it, and the comparison that turns two lists into
// the events that explain the difference.
import { jsonEqual } from "./merge-patch.js";
/**
 * Whether the application would see a difference between two versions of a member. Connection
 * ids and timestamps change on every reconnect of every member (a server restart renews them
 * all), so they do not count; the data and the number of devices do.
 */
export function memberDiffers(old, fresh) {
    return !jsonEqual(old.data, fresh.data) || old.connections.length !== fresh.connections.length;
}
function byClientId(a, b) {
    return a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0;
}
export class MemberList {
    map = new Map();
    sorted;
    get size() {
        return this.map.size;
    }
    get(clientId) {
        return this.map.get(clientId);
    }
    has(clientId) {
        return this.map.has(clientId);
    }
    /** Every member, sorted by client id. The same (frozen) array until the list changes. */
    all() {
        if (!this.sorted)
            this.sorted = Object.freeze([...this.map.values()].sort(byClientId));
        return this.sorted;
    }
    /** Adds or replaces a member; returns the previous version. */
    put(member) {
        const previous = this.map.get(member.clientId);
        this.map.set(member.clientId, member);
        this.sorted = undefined;
        return previous;
    }
    remove(clientId) {
        const previous = this.map.get(clientId);
        if (previous) {
            this.map.delete(clientId);
            this.sorted = undefined;
        }
        return previous;
    }
    clear() {
        if (this.map.size === 0)
            return;
        this.map.clear();
        this.sorted = undefined;
    }
    /**
     * Replaces the list with `fresh` and returns the events that explain the difference, for
     * the members that really changed: leaves, then joins, then updates (reason `reconciled`),
     * each in client id order. Members whose only change is new connection ids or timestamps are
     * replaced silently.
     */
    reconcile(channel, fresh) {
        const incoming = new Map(fresh.map((m) => [m.clientId, m]));
        const left = [];
        const joined = [];
        const updated = [];
        for (const old of this.all()) {
            if (!incoming.has(old.clientId)) {
                left.push({ action: "leave", channel, clientId: old.clientId, member: old, previous: old });
            }
        }
        for (const member of [...fresh].sort(byClientId)) {
            const old = this.map.get(member.clientId);
            if (!old) {
                joined.push({ action: "join", channel, clientId: member.clientId, member });
            }
            else if (memberDiffers(old, member)) {
                updated.push({
                    action: "update",
                    channel,
                    clientId: member.clientId,
                    member,
                    previous: old,
                    reason: "reconciled",
                });
            }
        }
        this.map.clear();
        for (const [id, member] of incoming)
            this.map.set(id, member);
        this.sorted = undefined;
        return [...left, ...joined, ...updated];
    }
}
