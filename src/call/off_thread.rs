//! Waiting without blocking an executor: blocking work run on a thread of its own, awaited through a
//! future that any async runtime can poll (no runtime is assumed or started).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::base::error::{Error, Result};
use crate::base::sync::lock;

/// The result, once the thread has it, and the task to wake then.
struct Slot<T> {
    value: Option<Result<T>>,
    waker: Option<Waker>,
}

/// Runs `work` on a new thread named `name`; the future is ready with its result when it returns.
/// Dropping the future does not stop the work.
pub(crate) fn off_thread<T, F>(name: &str, work: F) -> OffThread<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    let filled = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let value = work();
            let waker = {
                let mut slot = lock(&filled);
                slot.value = Some(value);
                slot.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
    if let Err(e) = spawned {
        lock(&slot).value = Some(Err(Error::Spawn(e)));
    }
    OffThread { slot }
}

/// The future of [`off_thread`].
pub(crate) struct OffThread<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for OffThread<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut slot = lock(&self.slot);
        match slot.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
