//! A one-way flag that tasks can wait on: set once, never cleared (a connection closing, the
//! server shutting down).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// A flag set once, with a wait that costs one atomic read per poll.
///
/// Each session waits on two flags in the same `select!` as its socket, so the wait is polled
/// every time the session is woken to write. A bare `Notify` would lock its list of waiters on
/// each of those polls, and the shutdown flag's list is shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Flag {
    set: AtomicBool,
    notify: Notify,
}

impl Flag {
    /// Sets the flag and wakes every waiter. Later calls do nothing more.
    pub(crate) fn set(&self) {
        if !self.set.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }

    /// Whether the flag is set.
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Resolves once the flag is set.
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait {
            flag: self,
            notified: self.notify.notified(),
            registered: false,
        }
    }
}

pin_project! {
    /// The future of [`Flag::wait`]. It registers with the `Notify` on its first poll only and
    /// reads the flag on later ones, which relies on the waker staying the same between polls:
    /// true of a future that stays in one task, as every caller's does. A plain struct rather
    /// than an async block, because every connection holds two of these for its lifetime.
    pub(crate) struct Wait<'a> {
        flag: &'a Flag,
        #[pin]
        notified: Notified<'a>,
        registered: bool,
    }
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.flag.is_set() {
            return Poll::Ready(());
        }
        if *this.registered {
            return Poll::Pending;
        }
        *this.registered = true;
        this.notified.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiter_polled_many_times_wakes_when_set() {
        let flag = Arc::new(Flag::default());
        let waiter = tokio::spawn({
            let flag = flag.clone();
            async move {
                // Polled again and again by the interval while it waits, like a session's
                // select! when the session is woken to write.
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                let mut wait = std::pin::pin!(flag.wait());
                let mut ticks = 0u32;
                loop {
                    tokio::select! {
                        () = &mut wait => return ticks,
                        _ = tick.tick() => ticks += 1,
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        flag.set();
        let ticks = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter wakes")
            .expect("the waiter does not panic");
        assert!(
            ticks > 1,
            "the wait was polled {ticks} times before the flag was set"
        );
    }

    #[tokio::test]
    async fn a_flag_set_before_the_wait_resolves_at_once() {
        let flag = Flag::default();
        flag.set();
        tokio::time::timeout(Duration::from_secs(1), flag.wait())
            .await
            .expect("resolves at once");
        assert!(flag.is_set());
    }
}
