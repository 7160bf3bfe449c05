//! The accept loop. Connections are capped (the cap fitted to the file limit, so accepting never
//! runs out of descriptors); at the cap a new connection closes the oldest one with no request under
//! way, so idle or slow connections cannot lock other clients out. Each connection has a header read
//! timeout, a head size limit and a lifetime; SIGINT or SIGTERM stops accepting, lets requests under
//! way finish for a grace period, and returns.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

use super::Limits;
use super::app::Client;

/// File descriptors kept for everything but connections: the standard streams, the listener, the
/// runtime's, the database connections (the file, its log and its shared memory, per connection).
const RESERVED_FILES: u64 = 32;

/// `wanted`, lowered so that the connections fit in the process's file limit (raised first to its
/// hard limit where it is lower).
pub(super) fn fit_to_file_limit(wanted: usize) -> usize {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => {
            let room = usize::try_from(soft.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
            wanted.min(room).max(1)
        }
        Err(_) => wanted,
    }
}

/// One open connection: whether a request is under way on it, and how to close it.
struct Open {
    busy: Arc<AtomicUsize>,
    close: oneshot::Sender<()>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Open>,
}

impl Registry {
    /// Makes room for one more connection under `cap`: closes the oldest idle one. `false` when every
    /// connection has a request under way.
    fn make_room(&mut self, cap: usize) -> bool {
        if self.open.len() < cap {
            return true;
        }
        let idle = self
            .open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(c) => {
                let _ = c.close.send(());
                true
            }
            None => false,
        }
    }
}

/// Counts a request under way on its connection until dropped.
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts and serves until SIGINT or SIGTERM, then waits for requests under way (up to the grace
/// period).
pub(super) async fn run(listener: TcpListener, app: Router, limits: Limits) {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let (stopping, stop) = watch::channel(false);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_error: Option<std::io::ErrorKind> = None;
    loop {
        let (stream, address) = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    last_error = None;
                    a
                }
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted: say so once,
                    // wait a moment, go on listening.
                    if last_error != Some(e.kind()) {
                        super::log(format_args!(
                            "callmeter serve: accepting a connection failed: {e}"
                        ));
                        last_error = Some(e.kind());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Reap finished connections' tasks.
        while tasks.try_join_next().is_some() {}
        let (id, busy, close) = {
            let mut r = registry.lock().unwrap_or_else(PoisonError::into_inner);
            if !r.make_room(limits.connections) {
                // Every connection is answering a request: this one is closed unanswered.
                drop(stream);
                continue;
            }
            let id = r.next;
            r.next += 1;
            let busy = Arc::new(AtomicUsize::new(0));
            let (close_tx, close) = oneshot::channel();
            r.open.insert(
                id,
                Open {
                    busy: Arc::clone(&busy),
                    close: close_tx,
                },
            );
            (id, busy, close)
        };
        let (app, registry, stop) = (app.clone(), Arc::clone(&registry), stop.clone());
        tasks.spawn(async move {
            connection(stream, address, app, limits, busy, close, stop).await;
            registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .open
                .remove(&id);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let grace = tokio::time::sleep(limits.shutdown_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            () = &mut grace => break,
            next = tasks.join_next() => if next.is_none() { break },
        }
    }
}

/// Serves one connection until it ends, is closed to make room, outlives its lifetime, or the server
/// stops (then the request under way is finished first).
async fn connection(
    stream: TcpStream,
    address: SocketAddr,
    app: Router,
    limits: Limits,
    busy: Arc<AtomicUsize>,
    close: oneshot::Receiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        busy.fetch_add(1, Ordering::AcqRel);
        let guard = Busy(Arc::clone(&busy));
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(Client(address));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(guard);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.head_bytes);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::pin!(lifetime);
    tokio::select! {
        _ = served.as_mut() => {}
        _ = close => {}
        () = &mut lifetime => {}
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
}

/// Resolves at SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
