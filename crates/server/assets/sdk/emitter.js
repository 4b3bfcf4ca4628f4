// A small typed event emitter. A listener that throws does not stop the others: the error is
// reported asynchronously, so one broken UI handler cannot corrupt the SDK's state.
export class Emitter {
    listeners = new Map();
    on(event, listener) {
        let set = this.listeners.get(event);
        if (!set) {
            set = new Set();
            this.listeners.set(event, set);
        }
        set.add(listener);
        return () => {
            this.off(event, listener);
        };
    }
    off(event, listener) {
        this.listeners.get(event)?.delete(listener);
    }
    emit(event, value) {
        const set = this.listeners.get(event);
        if (!set || set.size === 0)
            return;
        for (const listener of [...set]) {
            try {
                listener(value);
            }
            catch (error) {
                reportListenerError(error);
            }
        }
    }
    count(event) {
        return this.listeners.get(event)?.size ?? 0;
    }
    clear(event) {
        if (event === undefined)
            this.listeners.clear();
        else
            this.listeners.delete(event);
    }
}
export function reportListenerError(error) {
    // Rethrown outside the SDK's call stack: visible in the console / as an uncaught exception,
    // without unwinding the dispatch that called the listener.
    queueMicrotask(() => {
        throw error;
    });
}
