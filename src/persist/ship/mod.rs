//! The fleet shipper (feature `postgres`): the `callmeter-shipper` thread sends what the writer
//! committed to the SQLite file on to one PostgreSQL database shared by every server, exactly once.
//!
//! Each round reads the next shipment after the file's watermarks ([`outgoing`]), writes it to
//! PostgreSQL ([`fleet`]: the calls in one transaction, then the events in parts, each a transaction
//! on a connection of its own, at once), and only once those commit moves the watermarks forward.
//! While a full shipment is being written the next one is read. A crash
//! between the two sends the shipment again, and the fleet database ignores the events it holds (its
//! `event_id` is unique), so nothing is counted twice; nothing is lost either, since the file keeps
//! every event until it is shipped. When PostgreSQL is down or slow the backlog stays in the file and
//! the shipper retries with backoff; the writer and the hot path never wait for it.
//!
//! - [`schema`]: the fleet database's tables, created and migrated by the shipper.
//! - [`outgoing`]: one shipment, read from the file.
//! - [`fleet`]: one shipment, written to PostgreSQL.
//! - [`spend`]: the other servers' spend on this meter's limited users and tenants, refreshed from the
//!   fleet database every [`ShipConfig::refresh`].

pub(crate) mod fleet;
pub(crate) mod lease;
pub(crate) mod outgoing;
pub(crate) mod schema;
pub(crate) mod spend;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};
use postgres::{Client, NoTls};
use rusqlite::Connection;

use crate::base::backoff::Backoff;
use crate::base::clock::system_now_ms as now_ms;
use crate::base::money::Usd;
use crate::base::stats::Counters;
use crate::control::alert::{Alert, AlertKind, AlertMsg, AlertUsage};
use crate::control::limits::LimitBook;
use crate::control::quota::FleetQuota;
use crate::persist::message::Batch;
use crate::persist::outbox::{self, Watermarks};
use crate::persist::ship::outgoing::Outgoing;
use crate::persist::sink::Sink;

/// Where and how to ship.
#[derive(Clone, Debug)]
pub(crate) struct ShipConfig {
    /// The PostgreSQL connection URL (`postgres://user:password@host:port/database`).
    pub(crate) url: String,
    /// This server's name, stored with every row it ships.
    pub(crate) server: String,
    /// Events per PostgreSQL transaction at most.
    pub(crate) max_events: usize,
    /// How often an idle shipper looks for work it was not told of (events written by another meter
    /// on the same file).
    pub(crate) idle: Duration,
    /// How often the other servers' spend on limited users and tenants is read.
    pub(crate) refresh: Duration,
    /// The age of the oldest unshipped event that raises an [`AlertKind::ShipBacklog`] alert.
    pub(crate) backlog_alert: Duration,
    /// With strict fleet limits, the life of a lease (see [`lease`]).
    pub(crate) lease_ttl: Option<Duration>,
}

impl ShipConfig {
    /// Events per transaction: large enough that a transaction's fixed cost is small beside its rows,
    /// small enough that a retry resends little.
    pub(crate) const MAX_EVENTS: usize = 10_000;
    /// The idle poll.
    pub(crate) const IDLE: Duration = Duration::from_millis(500);
    /// Transactions of events in flight at once, on as many connections: a PostgreSQL backend works
    /// on one core, so two keep two cores busy while a backlog drains.
    pub(crate) const PARTS: usize = 2;
    /// The default refresh of the fleet's spend.
    pub(crate) const REFRESH: Duration = Duration::from_secs(2);
    /// The default backlog age that raises an alert.
    pub(crate) const BACKLOG_ALERT: Duration = Duration::from_secs(300);
}

/// The first and the longest wait after a failed round.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the backlog is recounted, at most, while a failed round backs off.
const BACKLOG_RECOUNT: Duration = Duration::from_millis(100);

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
enum ShipError {
    #[error("reading the outbox: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("migrating the fleet schema: {0}")]
    Schema(#[from] schema::MigrateError),
    #[error("a shipping thread panicked")]
    Panicked,
}

/// What a round did.
enum Round {
    /// A shipment committed; there may be more.
    Shipped,
    /// Nothing to ship.
    Idle,
}

/// The running shipper (and, with strict fleet limits, the lease thread), as the meter holds them.
pub(crate) struct ShipperHandle {
    stop: Sender<Instant>,
    join: JoinHandle<()>,
    leases: Option<lease::LeaseHandle>,
}

impl ShipperHandle {
    /// Gives back the leases' unused slices, ships what it can until `deadline`, then stops the
    /// threads.
    pub(crate) fn stop(self, deadline: Instant) {
        if let Some(leases) = self.leases {
            leases.stop();
        }
        let _ = self.stop.send(deadline);
        let _ = self.join.join();
    }
}

/// The writer's sink that wakes the shipper after each commit.
pub(crate) struct WakeSink(Sender<()>);

impl Sink for WakeSink {
    fn committed(&mut self, _batch: &Batch) {
        let _ = self.0.try_send(());
    }
}

/// Starts the `callmeter-shipper` thread for the file at `db`; answers it and the sink the writer
/// wakes it through.
pub(crate) fn spawn(
    db: PathBuf,
    config: ShipConfig,
    counters: Arc<Counters>,
    limits: Arc<LimitBook>,
    quotas: Vec<FleetQuota>,
    alerts: Sender<AlertMsg>,
) -> std::io::Result<(ShipperHandle, WakeSink)> {
    let leases = match config.lease_ttl {
        Some(ttl) => Some(lease::spawn(
            lease::LeaseConfig {
                url: config.url.clone(),
                server: config.server.clone(),
                db: db.clone(),
                ttl,
            },
            Arc::clone(&limits),
        )?),
        None => None,
    };
    let (wake_tx, wake) = bounded(1);
    let (stop_tx, stop) = bounded(1);
    let shipper = Shipper {
        db,
        config,
        counters,
        wake,
        stop,
        clients: Vec::new(),
        prefetched: None,
        stop_at: None,
        limits,
        quotas,
        refreshed: None,
        alerts,
        backlog_alerted: false,
    };
    let join = std::thread::Builder::new()
        .name("callmeter-shipper".into())
        .spawn(move || shipper.run())?;
    Ok((
        ShipperHandle {
            stop: stop_tx,
            join,
            leases,
        },
        WakeSink(wake_tx),
    ))
}

struct Shipper {
    db: PathBuf,
    config: ShipConfig,
    counters: Arc<Counters>,
    wake: Receiver<()>,
    stop: Receiver<Instant>,
    /// The connections, the first one migrated; dropped after an error so the next round connects
    /// again.
    clients: Vec<Conn>,
    /// The next shipment, read from the file while the last one was being written, and the
    /// watermarks it starts from: used only if the watermarks are still those.
    prefetched: Option<(Watermarks, Outgoing)>,
    stop_at: Option<Instant>,
    /// The meter's limits, whose counters learn the other servers' spend.
    limits: Arc<LimitBook>,
    /// The meter's provider quotas, which learn the other servers' usage.
    quotas: Vec<FleetQuota>,
    /// When that spend was last read.
    refreshed: Option<Instant>,
    alerts: Sender<AlertMsg>,
    /// Whether the current backlog has raised its alert (once until it is shipped).
    backlog_alerted: bool,
}

impl Shipper {
    fn run(mut self) {
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        let mut sqlite = None;
        loop {
            if let Ok(deadline) = self.stop.try_recv() {
                self.stop_at = Some(deadline);
            }
            if self.stop_at.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            let round = match &sqlite {
                // The round first: it counts the backlog even when PostgreSQL is unreachable.
                Some(conn) => self
                    .round(conn)
                    .and_then(|round| self.refresh(conn).map(|()| round)),
                None => open(&self.db).map_err(ShipError::from).and_then(|conn| {
                    let round = self.round(&conn);
                    sqlite = Some(conn);
                    round
                }),
            };
            match round {
                Ok(Round::Shipped) => {
                    backoff.reset();
                    self.counters.ship.set_error(None);
                }
                Ok(Round::Idle) => {
                    backoff.reset();
                    self.counters.ship.set_error(None);
                    if self.stop_at.is_some() {
                        return;
                    }
                    self.wait(self.config.idle, true);
                }
                Err(e) => {
                    self.counters.ship.errors.fetch_add(1, Ordering::Relaxed);
                    self.counters.ship.set_error(Some(e.to_string()));
                    // Stopping: the backlog stays in the file for the next start.
                    if self.stop_at.is_some() {
                        return;
                    }
                    if !matches!(e, ShipError::Sqlite(_)) {
                        self.clients.clear();
                    }
                    self.back_off(backoff.next_wait(), sqlite.as_ref());
                }
            }
        }
    }

    /// Sleeps up to `timeout` (never past the stop deadline), woken early by a stop request, and by a
    /// commit when `on_commit`; answers whether a commit woke it.
    fn wait(&mut self, timeout: Duration, on_commit: bool) -> bool {
        let timeout = match self.stop_at {
            Some(d) => timeout.min(d.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        let never = crossbeam_channel::never();
        let wake = if on_commit { &self.wake } else { &never };
        select! {
            recv(self.stop) -> d => { if let Ok(d) = d { self.stop_at = Some(d) }; false },
            recv(wake) -> _ => true,
            default(timeout) => false,
        }
    }

    /// Waits out a failed round's backoff of `delay`. The commits made meanwhile recount the backlog
    /// (at most every [`BACKLOG_RECOUNT`]), so [`Stats::ship_backlog`](crate::Stats::ship_backlog)
    /// follows what waits in the file during an outage instead of the count of the last attempt.
    fn back_off(&mut self, delay: Duration, sqlite: Option<&Connection>) {
        let until = Instant::now() + delay;
        let mut counted = Instant::now();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stop_at.is_some() {
                return;
            }
            let Some(conn) = sqlite else {
                self.wait(left, false);
                continue;
            };
            if !self.wait(left, true) {
                continue;
            }
            // Commits come every few milliseconds under load: one count per interval is enough.
            let since = counted.elapsed();
            if since < BACKLOG_RECOUNT {
                let pause =
                    (BACKLOG_RECOUNT - since).min(until.saturating_duration_since(Instant::now()));
                self.wait(pause, false);
            }
            if let Ok(from) = Watermarks::read(conn) {
                // A failure to count is seen again, and counted, by the next round.
                let _ = self.note_backlog(conn, from);
            }
            counted = Instant::now();
        }
    }

    /// Reads the other servers' spend on the limited users and tenants and their usage of the quotas,
    /// when it is time to.
    fn refresh(&mut self, sqlite: &Connection) -> Result<(), ShipError> {
        if self
            .refreshed
            .is_some_and(|t| t.elapsed() < self.config.refresh)
            || (self.quotas.is_empty() && self.limits.counters().is_empty())
        {
            return Ok(());
        }
        let origin = outbox::origin(sqlite)?;
        let limits = Arc::clone(&self.limits);
        let quotas = std::mem::take(&mut self.quotas);
        let read = self.client().and_then(|client| {
            spend::refresh(client, &origin, &limits)?;
            spend::refresh_quotas(client, &origin, &quotas, now_ms())?;
            Ok(())
        });
        self.quotas = quotas;
        read?;
        self.refreshed = Some(Instant::now());
        Ok(())
    }

    /// The first connection, connecting and migrating the schema first if there is none.
    fn client(&mut self) -> Result<&mut Client, ShipError> {
        self.connect(1)?;
        Ok(&mut self.clients[0].client)
    }

    /// One shipment, if there is anything to ship: the calls first (the events are summed into
    /// them), then up to [`ShipConfig::PARTS`] parts of events, each in a transaction of its own on
    /// a connection of its own, at the same time. The watermark moves past every part committed
    /// before the first that failed; a part committed after it is sent again and ignored.
    fn round(&mut self, sqlite: &Connection) -> Result<Round, ShipError> {
        let from = Watermarks::read(sqlite)?;
        // Counted before PostgreSQL is tried, so the backlog shows while it is unreachable.
        self.note_backlog(sqlite, from)?;
        let max = self.config.max_events;
        let out = match self.prefetched.take() {
            Some((start, out)) if start == from => out,
            _ => outgoing::read(sqlite, from, max * ShipConfig::PARTS)?,
        };
        if out.is_empty() {
            return Ok(Round::Idle);
        }
        // A full shipment leaves more behind, likely: it is read while this one is written.
        let full = out.events.len() == max * ShipConfig::PARTS;
        let next = out.through;
        let origin = outbox::origin(sqlite)?;
        let server = self.config.server.clone();
        let parts = out.events.split(max);
        self.connect(parts.len())?;
        let mut tx = self.clients[0].client.transaction()?;
        fleet::write_calls(&mut tx, &server, &origin, now_ms(), &out.calls)?;
        tx.commit()?;
        let mut through = Watermarks {
            events: from.events,
            changes: out.through.changes,
        };
        through.advance(sqlite)?;
        let mut prefetched = None;
        let results: Vec<Result<fleet::Shipped, ShipError>> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .zip(self.clients.iter_mut())
                .map(|(part, conn)| {
                    let (server, origin) = (&server, &origin);
                    s.spawn(move || conn.ship(server, origin, part))
                })
                .collect();
            if full {
                prefetched = Some((next, outgoing::read(sqlite, next, max * ShipConfig::PARTS)));
            }
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(ShipError::Panicked)))
                .collect()
        });
        let ship = &self.counters.ship;
        let mut failed = None;
        for (part, result) in parts.iter().zip(results) {
            match result {
                Ok(shipped) => {
                    ship.shipped.fetch_add(shipped.inserted, Ordering::Relaxed);
                    ship.duplicates
                        .fetch_add(shipped.already, Ordering::Relaxed);
                    if failed.is_none() {
                        through.events = part.last_id().unwrap_or(through.events);
                    }
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        // Committed: a failure from here on sends those events again, which the fleet ignores.
        through.advance(sqlite)?;
        // Kept only when every part committed: otherwise the next round starts from an earlier
        // watermark, and reads again.
        if let (None, Some((start, Ok(out)))) = (&failed, prefetched) {
            self.prefetched = Some((start, out));
        }
        self.note_backlog(sqlite, through)?;
        match failed {
            Some(e) => Err(e),
            None => Ok(Round::Shipped),
        }
    }

    /// Opens connections (migrating the schema on the first) until there are `n`.
    fn connect(&mut self, n: usize) -> Result<(), ShipError> {
        while self.clients.len() < n {
            let mut client = Client::connect(&self.config.url, NoTls)?;
            if self.clients.is_empty() {
                schema::migrate(&mut client)?;
            }
            self.clients.push(Conn {
                client,
                statements: None,
            });
        }
        Ok(())
    }

    /// Counts the backlog; raises its alert once it is older than the threshold.
    fn note_backlog(&mut self, sqlite: &Connection, through: Watermarks) -> Result<(), ShipError> {
        let (events, oldest) = outbox::backlog(sqlite, through.events)?;
        let ship = &self.counters.ship;
        ship.backlog.store(events, Ordering::Relaxed);
        ship.oldest_ms.store(oldest.unwrap_or(0), Ordering::Relaxed);
        let now = now_ms();
        let age_ms = oldest.map_or(0, |o| now.saturating_sub(o).max(0));
        let threshold_ms = i64::try_from(self.config.backlog_alert.as_millis()).unwrap_or(i64::MAX);
        if age_ms < threshold_ms {
            self.backlog_alerted = false;
        } else if !self.backlog_alerted {
            self.backlog_alerted = true;
            let cost: i64 = sqlite.query_row(
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM cost_events WHERE id > ?1",
                [through.events],
                |r| r.get(0),
            )?;
            let alert = backlog_alert(&self.config.server, events, cost, age_ms, threshold_ms, now);
            let _ = self.alerts.try_send(AlertMsg::Ready(Box::new(alert)));
        }
        Ok(())
    }
}

/// A connection to the fleet database, with its prepared statements for events.
struct Conn {
    client: Client,
    statements: Option<fleet::EventStatements>,
}

impl Conn {
    /// Ships one part of a shipment's events in a transaction of its own.
    fn ship(
        &mut self,
        server: &str,
        origin: &str,
        part: &outgoing::EventColumns,
    ) -> Result<fleet::Shipped, ShipError> {
        let statements = match self.statements.take() {
            Some(statements) => statements,
            None => fleet::EventStatements::prepare(&mut self.client)?,
        };
        let mut write = |insert| -> Result<fleet::Shipped, postgres::Error> {
            let mut tx = self.client.transaction()?;
            let shipped = fleet::write_events(&mut tx, &statements, insert, server, origin, part)?;
            tx.commit()?;
            Ok(shipped)
        };
        let shipped = match write(fleet::Insert::New) {
            Err(e) if fleet::is_replay(&e) => write(fleet::Insert::Replay)?,
            shipped => shipped?,
        };
        self.statements = Some(statements);
        Ok(shipped)
    }
}

/// The alert of a backlog older than its threshold.
fn backlog_alert(
    server: &str,
    events: u64,
    cost: i64,
    age_ms: i64,
    threshold_ms: i64,
    now: i64,
) -> Alert {
    let value = Usd::from_nanos(cost);
    let seconds = |ms: i64| rust_decimal::Decimal::new(ms, 3);
    Alert {
        kind: AlertKind::ShipBacklog,
        subject: format!("server:{server}"),
        call_id: None,
        user_id: None,
        tenant_id: None,
        value,
        threshold: None,
        usage: Some(AlertUsage {
            used: seconds(age_ms),
            threshold: seconds(threshold_ms),
            unit: "second".to_owned(),
        }),
        at: chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
        message: format!(
            "{events} events ({value}) committed on server {server} have not reached the fleet \
             database; the oldest for {} s (threshold {} s)",
            age_ms / 1000,
            threshold_ms / 1000
        ),
    }
}

/// The shipper's own connection to the file.
pub(super) fn open(db: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(1))?;
    Ok(conn)
}
