//! Strict fleet limits ([`FleetLimits::Strict`](crate::control::FleetLimits)): the
//! `callmeter-leases` thread leases slices of each limited user's and tenant's cost limit from the
//! fleet database, so that what the servers may spend never adds up to more than the limit.
//!
//! One pool per (subject, period kind, period) holds the limit (`lease_pools`); one lease per server
//! (`leases`) holds what that server may have used in the period (`granted`), what it last reported
//! using, and until when. A grant is one transaction that locks the pool's row, so two servers never
//! lease the same dollar: the leases of a pool add up to at most its limit.
//!
//! The thread looks at every limited period in progress every [`TICK`]: it asks for more before a
//! slice runs out (slices sized to the server's spend rate, between a fiftieth and a fifth of the
//! limit), renews its leases (reporting what it used) every third of the lease's life, and gives
//! back what it did not use when a period ends and when the meter shuts down. Track calls and
//! reservations read only the lease's atomics.
//!
//! A server that cannot reach the database keeps spending from what it holds until its leases
//! expire, then refuses (fail-closed). A lease that has not been renewed for its life and twice more
//! (its server was killed, or cut off) returns to the pool down to what its server last reported
//! using: the fleet can then pass a limit by at most what that server spent after its last report.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use postgres::{Client, NoTls};

use crate::base::clock::system_now_ms as now_ms;
use crate::control::limits::{LimitBook, Period, PeriodCounter, SubjectKind};
use crate::persist::outbox;
use crate::persist::ship::{open, schema};

/// How often the thread looks at the periods in progress.
pub(crate) const TICK: Duration = Duration::from_millis(20);
/// The spend a slice should last, at the server's current rate.
const SLICE_LASTS: Duration = Duration::from_secs(2);

/// Where to lease from, and how long a lease lives.
#[derive(Clone, Debug)]
pub(crate) struct LeaseConfig {
    pub(crate) url: String,
    pub(crate) server: String,
    /// The SQLite file: its origin names this server's leases.
    pub(crate) db: PathBuf,
    pub(crate) ttl: Duration,
}

impl LeaseConfig {
    /// The default life of a lease.
    pub(crate) const TTL: Duration = Duration::from_secs(10);
}

/// The running thread, as the meter holds it.
pub(crate) struct LeaseHandle {
    stop: Sender<()>,
    join: JoinHandle<()>,
}

impl LeaseHandle {
    /// Gives back what was not used, then stops the thread.
    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.join.join();
    }
}

/// Starts the `callmeter-leases` thread.
pub(crate) fn spawn(config: LeaseConfig, limits: Arc<LimitBook>) -> std::io::Result<LeaseHandle> {
    let (stop, stopping) = bounded::<()>(0);
    let join = std::thread::Builder::new()
        .name("callmeter-leases".into())
        .spawn(move || {
            Leaser {
                config,
                limits,
                client: None,
                origin: None,
                held: HashMap::new(),
                failing: false,
            }
            .run(&stopping);
        })?;
    Ok(LeaseHandle { stop, join })
}

/// The pool a counter spends from.
type Key = (SubjectKind, Box<str>, Period, i64);

/// What the thread knows of one lease.
struct Held {
    counter: Arc<PeriodCounter>,
    /// Used at the last look, and when: for the spend rate.
    seen: (i64, Instant),
    /// Nano-dollars a second, smoothed.
    rate: f64,
    renewed: Option<Instant>,
    /// When a grant fell short: asked again only after a pause.
    short_at: Option<Instant>,
}

struct Leaser {
    config: LeaseConfig,
    limits: Arc<LimitBook>,
    client: Option<Client>,
    origin: Option<String>,
    held: HashMap<Key, Held>,
    /// Whether the last look failed (a failure is logged once until a look succeeds).
    failing: bool,
}

/// Why a look failed (the database is out of reach, or the file cannot be read).
#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error("PostgreSQL: {}", .0.as_db_error().map_or_else(|| .0.to_string(), |d| d.message().to_owned()))]
    Postgres(#[from] postgres::Error),
    #[error("migrating the fleet schema: {0}")]
    Schema(#[from] schema::MigrateError),
    #[error("reading the file's origin: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn key_of(c: &PeriodCounter) -> Key {
    (c.kind, c.id.clone(), c.period, c.bounds_ms().0)
}

fn kind_name(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Tenant => "tenant",
    }
}

impl Leaser {
    fn run(mut self, stopping: &Receiver<()>) {
        loop {
            match self.look() {
                Ok(()) => {}
                Err(e) => {
                    self.client = None;
                    // Out of reach: nothing more can be granted; what is held stays until it
                    // expires.
                    for held in self.held.values() {
                        held.counter.lease.exhausted.store(true, Ordering::Relaxed);
                    }
                    if !std::mem::replace(&mut self.failing, true) {
                        log(&e);
                    }
                }
            }
            match stopping.recv_timeout(TICK) {
                Err(RecvTimeoutError::Timeout) => {}
                // Asked to stop: give back what was not used.
                _ => {
                    let _ = self.give_back_all();
                    return;
                }
            }
        }
    }

    fn client(&mut self) -> Result<&mut Client, LeaseError> {
        if self.origin.is_none() {
            let conn = open(&self.config.db)?;
            self.origin = Some(outbox::origin(&conn)?);
        }
        let client = match self.client.take() {
            Some(client) => client,
            None => {
                let mut client = Client::connect(&self.config.url, NoTls)?;
                schema::migrate(&mut client)?;
                client
            }
        };
        Ok(self.client.insert(client))
    }

    /// One look at every limited period in progress.
    fn look(&mut self) -> Result<(), LeaseError> {
        let now = Instant::now();
        for counter in self.limits.counters() {
            if counter.lease.on {
                self.held.entry(key_of(&counter)).or_insert_with(|| Held {
                    seen: (counter.used(), now),
                    counter,
                    rate: 0.0,
                    renewed: None,
                    short_at: None,
                });
            }
        }
        let ttl = self.config.ttl;
        let keys: Vec<Key> = self.held.keys().cloned().collect();
        for key in keys {
            let now_ms = now_ms();
            let Some(held) = self.held.get_mut(&key) else {
                continue;
            };
            let counter = Arc::clone(&held.counter);
            let used = counter.used();
            // A period that has ended: what was not used goes back.
            if counter.bounds_ms().1 <= now_ms {
                self.give_back(&key, used)?;
                self.held.remove(&key);
                continue;
            }
            let dt = now.duration_since(held.seen.1).as_secs_f64();
            if dt > 0.0 {
                let instant = (used - held.seen.0).max(0) as f64 / dt;
                held.rate = 0.7 * held.rate + 0.3 * instant;
                held.seen = (used, now);
            }
            let limit = counter.cost_limit();
            let want = ((held.rate * SLICE_LASTS.as_secs_f64()) as i64)
                .clamp((limit / 50).max(1), (limit / 5).max(1));
            let granted = counter.lease.granted.load(Ordering::Acquire);
            let low = granted.saturating_sub(used) < want / 2;
            let paused = held
                .short_at
                .is_some_and(|t| now.duration_since(t) < TICK * 10);
            let stale = held
                .renewed
                .is_none_or(|t| now.duration_since(t) >= ttl / 3);
            if (low && !paused) || stale {
                let ask = if low && !paused { want } else { 0 };
                let got = self.grant(&key, limit, used, ask)?;
                let Some(held) = self.held.get_mut(&key) else {
                    continue;
                };
                held.renewed = Some(now);
                let short = got < used.saturating_add(ask).min(limit);
                held.short_at = short.then_some(now);
                counter.lease.granted.store(got, Ordering::Release);
                let until =
                    now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
                counter.lease.until_ms.store(until, Ordering::Release);
                counter.lease.exhausted.store(short, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Grows this server's lease of `key` so that it covers `used` and `ask` more (as far as the
    /// pool allows), renews it and reports `used`; answers what it now grants.
    fn grant(&mut self, key: &Key, limit: i64, used: i64, ask: i64) -> Result<i64, LeaseError> {
        let (server, ttl_ms) = (
            self.config.server.clone(),
            i64::try_from(self.config.ttl.as_millis()).unwrap_or(i64::MAX),
        );
        self.client()?;
        let origin = self.origin.clone().unwrap_or_default();
        let client = self.client()?;
        let (kind, subject, period, start) = (kind_name(key.0), &*key.1, key.2.as_str(), key.3);
        let now = now_ms();
        let mut tx = client.transaction()?;
        // The pool's row, locked for the transaction: grants of one pool are one after another.
        let limit: i64 = tx
            .query_one(
                "INSERT INTO lease_pools (kind, subject, period, period_start, limit_nanos)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (kind, subject, period, period_start)
                 DO UPDATE SET limit_nanos = LEAST(lease_pools.limit_nanos, EXCLUDED.limit_nanos)
                 RETURNING limit_nanos",
                &[&kind, &subject, &period, &start, &limit],
            )?
            .get(0);
        // Leases not renewed for their life and twice more come back down to what their servers
        // last reported using.
        tx.execute(
            "UPDATE leases SET granted_nanos = used_nanos
             WHERE kind = $1 AND subject = $2 AND period = $3 AND period_start = $4
                   AND origin <> $5 AND expires_at + 2 * $6::bigint < $7::bigint
                   AND granted_nanos > used_nanos",
            &[&kind, &subject, &period, &start, &origin, &ttl_ms, &now],
        )?;
        let row = tx.query_one(
            "SELECT COALESCE(SUM(granted_nanos), 0)::bigint,
                    COALESCE(SUM(granted_nanos) FILTER (WHERE origin = $5), 0)::bigint
             FROM leases WHERE kind = $1 AND subject = $2 AND period = $3 AND period_start = $4",
            &[&kind, &subject, &period, &start, &origin],
        )?;
        let (all, mine): (i64, i64) = (row.get(0), row.get(1));
        let wanted = used.saturating_add(ask).saturating_sub(mine).max(0);
        let room = limit.saturating_sub(all).max(0);
        let granted = mine.saturating_add(wanted.min(room));
        tx.execute(
            "INSERT INTO leases (kind, subject, period, period_start, origin, server, granted_nanos,
                                 used_nanos, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (kind, subject, period, period_start, origin)
             DO UPDATE SET granted_nanos = EXCLUDED.granted_nanos, used_nanos = EXCLUDED.used_nanos,
                           expires_at = EXCLUDED.expires_at, server = EXCLUDED.server",
            &[
                &kind,
                &subject,
                &period,
                &start,
                &origin,
                &server,
                &granted,
                &used.min(granted),
                &now.saturating_add(ttl_ms),
            ],
        )?;
        tx.commit()?;
        self.failing = false;
        Ok(granted)
    }

    /// Gives back what this server did not use of its lease of `key`.
    fn give_back(&mut self, key: &Key, used: i64) -> Result<(), LeaseError> {
        self.client()?;
        let origin = self.origin.clone().unwrap_or_default();
        let client = self.client()?;
        let (kind, subject, period, start) = (kind_name(key.0), &*key.1, key.2.as_str(), key.3);
        client.execute(
            "UPDATE leases SET granted_nanos = LEAST(granted_nanos, $6),
                               used_nanos = LEAST(granted_nanos, $6)
             WHERE kind = $1 AND subject = $2 AND period = $3 AND period_start = $4 AND origin = $5",
            &[&kind, &subject, &period, &start, &origin, &used],
        )?;
        Ok(())
    }

    /// At shutdown: every lease back down to what was used, and nothing more is spent from them.
    fn give_back_all(&mut self) -> Result<(), LeaseError> {
        let keys: Vec<Key> = self.held.keys().cloned().collect();
        for key in keys {
            if let Some(held) = self.held.get(&key) {
                let counter = Arc::clone(&held.counter);
                counter.lease.until_ms.store(0, Ordering::Release);
                self.give_back(&key, counter.used())?;
            }
        }
        Ok(())
    }
}

/// The first failed look of a streak, on stderr (the next look retries). A PostgreSQL error names no
/// password.
fn log(e: &LeaseError) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "callmeter-leases: {e}; retrying every {} ms, spending only what is leased",
        TICK.as_millis()
    );
}
