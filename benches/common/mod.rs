//! The floor of one event, shared by the benchmarks that measure against it: a 64-byte message and a
//! bounded crossbeam channel drained by another thread the way the writer drains its queue (it polls,
//! sleeping 2 ms when it finds nothing, so that senders never wake it).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};

/// A 64-byte message, as a track call's event is.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Message {
    at: coarsetime::Instant,
    payload: [u64; 7],
}

/// The floor's channel and the thread that drains it.
pub(crate) struct Floor {
    tx: Sender<Message>,
    stop: Arc<AtomicBool>,
    drained: Arc<AtomicU64>,
    sent: u64,
    drainer: Option<JoinHandle<()>>,
}

impl Floor {
    /// A channel of `capacity` messages and its draining thread.
    pub(crate) fn new(capacity: usize) -> Floor {
        let (tx, rx) = crossbeam_channel::bounded::<Message>(capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let drained = Arc::new(AtomicU64::new(0));
        let drainer = {
            let (stop, drained) = (Arc::clone(&stop), Arc::clone(&drained));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut n = 0;
                    while let Ok(m) = rx.try_recv() {
                        black_box(m);
                        n += 1;
                    }
                    drained.fetch_add(n, Ordering::Release);
                    if n == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        };
        Floor {
            tx,
            stop,
            drained,
            sent: 0,
            drainer: Some(drainer),
        }
    }

    /// The floor's operation: one read of the tracker's clock and one `try_send`. False when the
    /// channel was full.
    #[inline]
    pub(crate) fn send(&mut self, i: u64) -> bool {
        let message = Message {
            at: coarsetime::Instant::now(),
            payload: [i; 7],
        };
        match self.tx.try_send(black_box(message)) {
            Ok(()) => {
                self.sent += 1;
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Waits until the drainer has taken everything sent.
    pub(crate) fn wait_drained(&self) {
        while self.drained.load(Ordering::Acquire) < self.sent {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drainer) = self.drainer.take() {
            let _ = drainer.join();
        }
    }
}
