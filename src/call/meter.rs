//! The process-wide handle: catalog, queue, counters, writer thread and its guard.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::FixedOffset;
use crossbeam_channel::{bounded, unbounded};
use rustc_hash::FxHashMap;

use crate::base::clock::{Clock, TimeSource};
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::stats::{Counters, Stats};
use crate::call::guard::MeterGuard;
use crate::call::info::CallInfo;
use crate::call::off_thread::off_thread;
use crate::call::shared::{ActiveCalls, MeterShared};
use crate::call::state::CallState;
use crate::call::tracker::CallCostTracker;
use crate::control::alert::{ALERT_QUEUE, AlertSink, AlertThresholds, Dispatcher};
use crate::control::budget::Budget;
use crate::control::limits::{
    Admission, LimitBook, LimitConfig, LimitStatus, Limits, SubjectKind, month_start_ms,
};
use crate::control::quota::{Quota, Watch};
use crate::persist::message::Control;
use crate::persist::recall;
#[cfg(feature = "postgres")]
use crate::persist::ship;
use crate::persist::sink;
use crate::persist::store::Store;
use crate::persist::unknown::UnknownModels;
use crate::persist::writer::{Writer, WriterConfig, WriterQueues};
use crate::pricing::Catalog;

/// Default database file, relative to the working directory.
pub(crate) const DEFAULT_DB_PATH: &str = "callmeter.db";
/// Default capacity of the event queue (events).
pub(crate) const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
/// Default largest number of events written in one transaction.
pub(crate) const DEFAULT_BATCH_SIZE: usize = 8_192;
/// Default time the writer sleeps when it finds the queue empty.
pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(2);
/// Default longest wait of [`Meter::flush`].
pub(crate) const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cost [`Meter::admit`] assumes for a call: $0.90.
pub(crate) const DEFAULT_CALL_ESTIMATE: Usd =
    Usd::new(rust_decimal::Decimal::from_parts(90, 0, 0, false, 2));
/// Default longest wait of [`MeterGuard::shutdown`] and of the guard's drop.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a [`Meter`].
///
/// | setting | default | |
/// |---|---|---|
/// | [`path`](Self::path) | [`Self::DEFAULT_DB_PATH`] | SQLite file, created and migrated on open |
/// | [`catalog`](Self::catalog) | [`Catalog::builtin`] | prices |
/// | [`queue_capacity`](Self::queue_capacity) | [`Self::DEFAULT_QUEUE_CAPACITY`] | events the queue holds |
/// | [`batch_size`](Self::batch_size) | [`Self::DEFAULT_BATCH_SIZE`] | events per transaction at most |
/// | [`poll_interval`](Self::poll_interval) | [`Self::DEFAULT_POLL_INTERVAL`] | writer's sleep when idle |
/// | [`flush_timeout`](Self::flush_timeout) | [`Self::DEFAULT_FLUSH_TIMEOUT`] | longest `flush` wait |
/// | [`shutdown_timeout`](Self::shutdown_timeout) | [`Self::DEFAULT_SHUTDOWN_TIMEOUT`] | longest shutdown wait |
/// | [`budget`](Self::budget) | [`Budget::default`] ($10.00, warning at 75 %, cutoff on) | per-call budget |
/// | [`alert_thresholds`](Self::alert_thresholds) | [`AlertThresholds::default`], then the environment | cost alerts |
/// | [`alert_sink`](Self::alert_sink) | none (alerts go to the `alerts` table) | alert delivery |
#[must_use]
pub struct MeterBuilder {
    path: PathBuf,
    catalog: Option<Catalog>,
    queue_capacity: usize,
    batch_size: usize,
    poll_interval: Duration,
    flush_timeout: Duration,
    shutdown_timeout: Duration,
    budget: Budget,
    thresholds: AlertThresholds,
    sinks: Vec<Arc<dyn AlertSink>>,
    limits: LimitConfig,
    estimate: Usd,
    estimates: FxHashMap<String, Usd>,
    quotas: Vec<Quota>,
    time: TimeSource,
    stale_after_days: Option<u32>,
    #[cfg(feature = "postgres")]
    fleet: Option<Fleet>,
}

/// Where the fleet database is, and this server's name in it.
#[cfg(feature = "postgres")]
#[derive(Clone, Debug, Default)]
struct Fleet {
    url: String,
    server: Option<String>,
    refresh: Option<Duration>,
    backlog_alert: Option<Duration>,
    limits: crate::control::FleetLimits,
    lease_ttl: Option<Duration>,
}

/// The defaults of every setting.
impl MeterBuilder {
    /// Default database file, relative to the working directory.
    pub const DEFAULT_DB_PATH: &str = DEFAULT_DB_PATH;
    /// Default capacity of the event queue (events).
    pub const DEFAULT_QUEUE_CAPACITY: usize = DEFAULT_QUEUE_CAPACITY;
    /// Default largest number of events written in one transaction.
    pub const DEFAULT_BATCH_SIZE: usize = DEFAULT_BATCH_SIZE;
    /// Default time the writer sleeps when it finds the queue empty.
    pub const DEFAULT_POLL_INTERVAL: Duration = DEFAULT_POLL_INTERVAL;
    /// Default longest wait of [`Meter::flush`].
    pub const DEFAULT_FLUSH_TIMEOUT: Duration = DEFAULT_FLUSH_TIMEOUT;
    /// Default cost [`Meter::admit`] assumes for a call: $0.90.
    pub const DEFAULT_CALL_ESTIMATE: Usd = DEFAULT_CALL_ESTIMATE;
    /// Default longest wait of [`MeterGuard::shutdown`] and of the guard's drop.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = DEFAULT_SHUTDOWN_TIMEOUT;
}

impl std::fmt::Debug for MeterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterBuilder")
            .field("path", &self.path)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_size", &self.batch_size)
            .field("budget", &self.budget)
            .field("thresholds", &self.thresholds)
            .field("sinks", &self.sinks.len())
            .field("clock", &self.time)
            .finish_non_exhaustive()
    }
}

impl Default for MeterBuilder {
    fn default() -> Self {
        MeterBuilder {
            path: PathBuf::from(DEFAULT_DB_PATH),
            catalog: None,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            budget: Budget::default(),
            thresholds: AlertThresholds::default(),
            sinks: Vec::new(),
            limits: LimitConfig::default(),
            estimate: DEFAULT_CALL_ESTIMATE,
            estimates: FxHashMap::default(),
            quotas: Vec::new(),
            time: TimeSource::default(),
            stale_after_days: None,
            #[cfg(feature = "postgres")]
            fleet: None,
        }
    }
}

impl MeterBuilder {
    /// The SQLite database file (`":memory:"` keeps everything in the writer's memory).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = path.into();
        self
    }

    /// The price catalog.
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// How many events the queue holds (at least 1).
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue_capacity = events.max(1);
        self
    }

    /// The most events written in one transaction (at least 1).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// How long the writer sleeps when it finds nothing to write.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest [`Meter::flush`] waits for the writer.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// The budget of every call that does not set its own ([`CallInfo::budget`](crate::CallInfo::budget)).
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Cost alert thresholds (the environment, read when the meter opens, overrides them; see
    /// [`AlertThresholds`]).
    pub fn alert_thresholds(mut self, thresholds: AlertThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Adds a place alerts are delivered to (a closure `|alert: &Alert| …` is one); every alert also
    /// goes to the `alerts` table.
    pub fn alert_sink(mut self, sink: impl AlertSink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// The clock calls and events are stamped by, and limits' days and months decided by (the system
    /// clock by default). It is read on the calling thread only, once per track call; see [`Clock`].
    /// For tests and simulations: [`ManualClock`](crate::ManualClock), or a clock of one's own.
    /// With a clock given, limits keep the counters of ended days and months (one per limited user
    /// or tenant and period): a clock may answer per thread, and a day one thread has left behind
    /// may still come for another.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.time = TimeSource::new(Arc::new(clock));
        self
    }

    /// Raises one [`AlertKind::StalePrice`](crate::AlertKind::StalePrice) alert per price the first
    /// time an event is priced with it more than `max_age_days` after the day it was last checked
    /// against its source (see [`ModelPrice::checked`](crate::ModelPrice::checked)), or with a price
    /// never checked. Off by default. The check runs on the writer thread, after the commit: the
    /// track calls do not pay for it.
    pub fn stale_price_alert(mut self, max_age_days: u32) -> Self {
        self.stale_after_days = Some(max_age_days);
        self
    }

    /// Adds a platform quota on a provider (or one of its models).
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// The limits of every user without limits of their own.
    pub fn user_limits(mut self, limits: Limits) -> Self {
        self.limits.user_default = limits;
        self
    }

    /// The limits of one user.
    pub fn user_limits_for(mut self, user_id: impl Into<String>, limits: Limits) -> Self {
        self.limits.users.insert(user_id.into(), limits);
        self
    }

    /// The limits of every tenant without limits of its own.
    pub fn tenant_limits(mut self, limits: Limits) -> Self {
        self.limits.tenant_default = limits;
        self
    }

    /// The limits of one tenant.
    pub fn tenant_limits_for(mut self, tenant_id: impl Into<String>, limits: Limits) -> Self {
        self.limits.tenants.insert(tenant_id.into(), limits);
        self
    }

    /// The time zone of the limits' days and months, as an offset from UTC (default UTC).
    pub fn limits_offset(mut self, offset: FixedOffset) -> Self {
        self.limits.offset = Some(offset);
        self
    }

    /// What [`Meter::admit`] assumes a call will cost ([`Self::DEFAULT_CALL_ESTIMATE`] unless set).
    pub fn estimated_call_cost(mut self, cost: Usd) -> Self {
        self.estimate = cost;
        self
    }

    /// What [`Meter::admit`] assumes a call of this session kind will cost.
    pub fn estimated_call_cost_for(mut self, session_kind: impl Into<String>, cost: Usd) -> Self {
        self.estimates.insert(session_kind.into(), cost);
        self
    }

    /// The longest [`MeterGuard::shutdown`] (or the guard's drop) takes, in total: at most half of it
    /// waiting for a flush, the rest for the writer to drain.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Ships every event committed to the SQLite file on to the PostgreSQL database at `url`
    /// (`postgres://user:password@host:port/database`), shared by the fleet, exactly once (feature
    /// `postgres`): a `callmeter-shipper` thread creates or migrates the fleet schema, sends what the
    /// writer committed in batches, and retries with backoff while PostgreSQL is unreachable (the
    /// backlog waits in the file; see [`Stats::ship_backlog`]). Track calls and the writer never wait
    /// for it. The file must be a file, not `":memory:"`.
    #[cfg(feature = "postgres")]
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.fleet.get_or_insert_with(Fleet::default).url = url.into();
        self
    }

    /// How old the oldest event not yet in the fleet database may get before an
    /// [`AlertKind::ShipBacklog`](crate::AlertKind::ShipBacklog) alert is raised (default 5 minutes;
    /// once per backlog). Only used with [`postgres`](Self::postgres).
    #[cfg(feature = "postgres")]
    pub fn ship_backlog_alert(mut self, age: Duration) -> Self {
        self.fleet.get_or_insert_with(Fleet::default).backlog_alert = Some(age);
        self
    }

    /// How often the other servers' spend on this meter's limited users and tenants is read from the
    /// fleet database (default 2 s). User and tenant limits then count the whole fleet: a server sees
    /// the others' spend at most this much (plus their shipping delay) late, which bounds how far a
    /// fleet can overshoot a limit (the guide, "Fleets"). Only used with [`postgres`](Self::postgres).
    #[cfg(feature = "postgres")]
    pub fn fleet_refresh(mut self, interval: Duration) -> Self {
        self.fleet.get_or_insert_with(Fleet::default).refresh = Some(interval);
        self
    }

    /// How the fleet keeps user and tenant cost limits ([`FleetLimits`](crate::control::FleetLimits),
    /// default `Available`). Only used with [`postgres`](Self::postgres).
    #[cfg(feature = "postgres")]
    pub fn fleet_limits(mut self, mode: crate::control::FleetLimits) -> Self {
        self.fleet.get_or_insert_with(Fleet::default).limits = mode;
        self
    }

    /// The life of a strict fleet limit's lease (default 10 s; see the Fleets chapter).
    #[cfg(feature = "postgres")]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.fleet.get_or_insert_with(Fleet::default).lease_ttl = Some(ttl);
        self
    }

    /// This server's name in the fleet database, stored with every row it ships (default: the host
    /// name). Only used with [`postgres`](Self::postgres).
    #[cfg(feature = "postgres")]
    pub fn server(mut self, name: impl Into<String>) -> Self {
        self.fleet.get_or_insert_with(Fleet::default).server = Some(name.into());
        self
    }

    /// Opens (creating and migrating) the database, starts the writer thread and returns the meter with
    /// the guard that shuts it down.
    ///
    /// # Errors
    ///
    /// [`Error::NotWritable`] when the file (or its folder, or its file system) cannot be written,
    /// [`Error::Storage`] when the file cannot be opened or is not a SQLite database,
    /// [`Error::SchemaVersion`] when it was written by a newer callmeter, [`Error::Spawn`] when the writer
    /// thread cannot start.
    pub fn open(self) -> Result<(Meter, MeterGuard)> {
        self.budget.check()?;
        let thresholds = self.thresholds.with_env()?;
        #[cfg(feature = "postgres")]
        let fleet = self.fleet_config()?;
        let mut store = Store::open(&self.path)?;
        let control = ControlStart {
            now_ms: self.time.now_ms(),
            // A given clock may answer per thread: a day one thread left behind may come back.
            keep_ended: self.time.custom().is_some(),
            #[cfg(feature = "postgres")]
            leased: self
                .fleet
                .as_ref()
                .is_some_and(|f| f.limits == crate::control::FleetLimits::Strict),
        };
        store.record_quotas(
            &self.quotas,
            thresholds.daily,
            thresholds.monthly,
            control.now_ms,
        )?;
        let (limits, watch) = load_control(&store, self.limits, self.quotas, &thresholds, control)?;
        let (alerts_tx, alerts_rx) = bounded(ALERT_QUEUE);
        let counters = Arc::new(Counters::new());
        let unknown = Arc::new(UnknownModels::new());
        let (events_tx, events_rx) = bounded(self.queue_capacity);
        let (control_tx, control_rx) = unbounded();
        counters
            .calls_interrupted
            .store(store.recovered.calls, Ordering::Relaxed);
        #[cfg(feature = "postgres")]
        let fleet_quotas = watch.fleet_quotas();
        // Every meter's sinks: quotas and thresholds, the log events (feature `tracing`), the cost
        // metrics (feature `metrics`).
        #[allow(unused_mut)]
        let mut sinks: Vec<Box<dyn sink::Sink>> = vec![
            #[cfg(feature = "tracing")]
            Box::new(sink::TraceSink),
            #[cfg(feature = "metrics")]
            Box::new(crate::persist::metrics::CostSink),
            Box::new(sink::QuotaSink::new(
                watch,
                alerts_tx.clone(),
                Arc::clone(&counters),
            )),
        ];
        if let Some(days) = self.stale_after_days {
            sinks.push(Box::new(sink::StalePriceSink::new(
                days,
                alerts_tx.clone(),
                Arc::clone(&counters),
            )));
        }
        #[cfg(feature = "postgres")]
        let shipper = match fleet {
            Some(config) => {
                let (handle, wake) = ship::spawn(
                    self.path.clone(),
                    config,
                    Arc::clone(&counters),
                    Arc::clone(&limits),
                    fleet_quotas,
                    alerts_tx.clone(),
                )
                .map_err(Error::Spawn)?;
                sinks.push(Box::new(wake));
                Some(handle)
            }
            None => None,
        };
        let join = spawn_writer(Writer::new(
            store,
            sinks,
            WriterQueues {
                events: events_rx,
                control: control_rx,
                alerts: alerts_tx.clone(),
            },
            Arc::clone(&counters),
            Arc::clone(&unknown),
            WriterConfig {
                batch_size: self.batch_size,
                poll: self.poll_interval,
            },
        ))?;
        let to_writer = control_tx.clone();
        let dispatcher = Dispatcher::spawn(
            alerts_rx,
            self.sinks,
            Box::new(move |alert| {
                let _ = to_writer.send(Control::Alert(Box::new(alert)));
            }),
            Arc::clone(&counters),
        )
        .map_err(Error::Spawn)?;
        let shared = Arc::new(MeterShared {
            events: events_tx,
            control: control_tx,
            counters,
            catalog: RwLock::new(Arc::new(self.catalog.unwrap_or_else(Catalog::builtin))),
            unknown,
            active: Mutex::new(ActiveCalls::default()),
            writer: join.thread().clone(),
            flush_timeout: self.flush_timeout,
            next_key: AtomicU64::new(0),
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
            time: self.time,
            budget: self.budget,
            alerts: alerts_tx,
            call_alert: thresholds.call.to_nanos().unwrap_or(i64::MAX),
            limits,
            estimate: self.estimate,
            estimates: self.estimates,
        });
        let guard = MeterGuard {
            shared: Arc::clone(&shared),
            dispatcher,
            join: Some(join),
            timeout: self.shutdown_timeout,
            #[cfg(feature = "postgres")]
            shipper,
        };
        Ok((Meter { shared }, guard))
    }
}

#[cfg(feature = "postgres")]
impl MeterBuilder {
    /// The shipper's settings, checked: a URL was given, the file is a file.
    fn fleet_config(&self) -> Result<Option<ship::ShipConfig>> {
        let Some(fleet) = &self.fleet else {
            return Ok(None);
        };
        if fleet.url.is_empty() {
            return Err(Error::InvalidConfig {
                name: "server",
                reason: "a fleet setting was given without a PostgreSQL URL \
                         (MeterBuilder::postgres)"
                    .into(),
            });
        }
        if self.path.as_os_str() == ":memory:" {
            return Err(Error::InvalidConfig {
                name: "postgres",
                reason: "shipping needs the SQLite file as its outbox; \":memory:\" has none"
                    .into(),
            });
        }
        let server = match &fleet.server {
            Some(name) if name.is_empty() || name.len() > CallInfo::MAX_ID_LEN => {
                return Err(Error::InvalidConfig {
                    name: "server",
                    reason: format!(
                        "a server name is 1 to {} bytes, not {}",
                        CallInfo::MAX_ID_LEN,
                        name.len()
                    ),
                });
            }
            Some(name) => name.clone(),
            None => host_name(),
        };
        Ok(Some(ship::ShipConfig {
            url: fleet.url.clone(),
            server,
            max_events: ship::ShipConfig::MAX_EVENTS,
            idle: ship::ShipConfig::IDLE,
            refresh: fleet.refresh.unwrap_or(ship::ShipConfig::REFRESH),
            backlog_alert: fleet
                .backlog_alert
                .unwrap_or(ship::ShipConfig::BACKLOG_ALERT),
            lease_ttl: (fleet.limits == crate::control::FleetLimits::Strict).then(|| {
                fleet
                    .lease_ttl
                    .unwrap_or(ship::lease::LeaseConfig::TTL)
                    .max(ship::lease::TICK * 10)
            }),
        }))
    }
}

/// The machine's host name, or `"unknown"`.
#[cfg(feature = "postgres")]
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// When the control stage starts, and whether its limits keep ended periods' counters.
struct ControlStart {
    now_ms: i64,
    keep_ended: bool,
    /// Strict fleet limits: cost limits are spent from leases.
    #[cfg(feature = "postgres")]
    leased: bool,
}

/// What the control stage needs from the database when a meter opens: this period's spend of the
/// users and tenants with limits, and the state of quotas and platform thresholds.
fn load_control(
    store: &Store,
    config: LimitConfig,
    quotas: Vec<Quota>,
    thresholds: &AlertThresholds,
    start: ControlStart,
) -> Result<(Arc<LimitBook>, Watch)> {
    let now_ms = start.now_ms;
    let past = if config.any() {
        let since = month_start_ms(config.offset(), now_ms);
        recall::past_calls(store.connection(), store.path(), since)?
    } else {
        Vec::new()
    };
    let begun = recall::watch_start(store.connection(), store.path(), &quotas, now_ms)?;
    let watch = Watch::new(quotas, thresholds.daily, thresholds.monthly, now_ms, begun);
    let mut book = LimitBook::new(config, past);
    if start.keep_ended {
        book = book.keeping_ended_periods();
    }
    #[cfg(feature = "postgres")]
    if start.leased {
        book = book.leased();
    }
    Ok((Arc::new(book), watch))
}

/// Starts the `callmeter-writer` thread.
fn spawn_writer(writer: Writer) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("callmeter-writer".into())
        .spawn(move || writer.run())
        .map_err(Error::Spawn)
}

/// The process-wide cost meter. Cheap to clone; share it with every part of the agent.
///
/// # Examples
///
/// ```
/// use callmeter::{CallInfo, Meter, Outcome, TokenUsage};
///
/// # let dir = tempfile::tempdir()?;
/// let (meter, guard) = Meter::builder().path(dir.path().join("costs.db")).open()?;
/// let call = meter.start_call(CallInfo::new("CA01").user("u1"))?;
/// call.track_duration("twilio", "outbound-us", 300.0)?;
/// call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(40_000, 10_000))?;
/// let summary = call.finalize(Outcome::Completed)?;
/// assert_eq!(summary.total.to_string(), "$0.075");
/// guard.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Meter {
    shared: Arc<MeterShared>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("catalog_entries", &self.shared.catalog().len())
            .finish_non_exhaustive()
    }
}

impl Meter {
    /// A builder with the defaults in [`MeterBuilder`]'s table.
    pub fn builder() -> MeterBuilder {
        MeterBuilder::default()
    }

    /// Starts tracking a call.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCallInfo`] for an empty or over-long id, [`Error::DuplicateCall`] when a call with
    /// the same id is being tracked by this meter.
    pub fn start_call(&self, info: CallInfo) -> Result<CallCostTracker> {
        CallState::start(Arc::clone(&self.shared), info).map(CallCostTracker::new)
    }

    /// Whether a call may start under its user's and tenant's daily and monthly limits, assuming it will
    /// cost the estimate for its session kind ([`MeterBuilder::estimated_call_cost_for`], else
    /// [`MeterBuilder::estimated_call_cost`]). Denied when spend plus the estimate would pass a cost
    /// limit, or a minutes limit is used up. It reserves nothing: [`start_call`](Self::start_call)
    /// does not check it again, and limits are enforced live (see [`Limits`]).
    pub fn admit(&self, info: &CallInfo) -> Admission {
        let s = &self.shared;
        let estimate = info
            .session_kind_name()
            .and_then(|k| s.estimates.get(k))
            .copied()
            .unwrap_or(s.estimate);
        s.limits
            .admit(info.user_id(), info.tenant_id(), estimate, s.time.now_ms())
    }

    /// What a user or tenant has spent today and this month (calls in progress included), against its
    /// limits; one entry per limited period.
    pub fn limit_status(&self, kind: SubjectKind, id: &str) -> Vec<LimitStatus> {
        self.shared
            .limits
            .status(kind, id, self.shared.time.now_ms())
    }

    /// The catalog calls started now are priced by.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog()
    }

    /// Replaces the catalog while calls are running, without blocking a track call: calls started from
    /// now on are priced by `catalog`; a call in progress keeps the catalog it started with, so its
    /// billing increments stay whole. To change a price in the middle of calls, give the new price as a
    /// version with [`ModelPrice::with_effective_from`](crate::ModelPrice::with_effective_from): every event is
    /// priced by the version in force when it is tracked.
    pub fn set_catalog(&self, catalog: Catalog) {
        let catalog = Arc::new(catalog);
        *crate::base::sync::write(&self.shared.catalog) = catalog;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Waits until every event, start and end record enqueued before this call is committed.
    ///
    /// **Blocks** the calling thread: usually for one commit (milliseconds), at most the flush timeout
    /// (default 10 s) while the database fails. From async code use
    /// [`flush_async`](Self::flush_async).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the writer does not answer within the flush timeout (the database is
    /// failing: see [`Stats::last_write_error`]); [`Error::ShutDown`] after shutdown.
    pub fn flush(&self) -> Result<()> {
        let timeout = self.shared.flush_timeout;
        self.shared
            .request(Control::Flush, Instant::now() + timeout, timeout)
    }

    /// [`flush`](Self::flush) without blocking the caller: the wait runs on a thread of its own
    /// (`callmeter-flush`), and the future, which any async runtime can poll, is ready when it ends.
    /// Dropping the future does not cancel the flush.
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush); [`Error::Spawn`] when the thread cannot start.
    pub fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let meter = self.clone();
        off_thread("callmeter-flush", move || meter.flush())
    }
}
