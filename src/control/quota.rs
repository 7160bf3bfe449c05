//! Platform-wide thresholds, watched by the writer after each commit (never on the hot path): quotas
//! per provider (and model) per day or month, and the platform's daily and monthly cost alerts. Periods
//! are UTC calendar days and months. What the current periods already used, and which of their alerts
//! already fired, is read back from the database when a meter opens, so a restart neither forgets
//! usage nor repeats an alert.

use std::sync::{Arc, Mutex};

use chrono::DateTime;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use rust_decimal::Decimal;

use crate::base::money::Usd;
use crate::base::usage::Measure;
use crate::control::alert::{Alert, AlertKind, AlertUsage};
use crate::control::limits::{Period, UTC, period_of};

/// The default quota warning threshold: 80 % of the quota.
pub(crate) const DEFAULT_QUOTA_WARNING_PERCENT: u8 = 80;
/// The default quota critical threshold: 95 % of the quota.
pub(crate) const DEFAULT_QUOTA_CRITICAL_PERCENT: u8 = 95;

/// A platform quota on one provider (optionally one model) for a day or a month: in units of the
/// usage's own unit (characters, tokens, seconds) and/or in dollars, with a warning and a critical
/// threshold. Crossing a threshold raises one alert per period.
///
/// # Examples
///
/// ```
/// use callmeter::{Quota, Usd};
/// use rust_decimal::dec;
///
/// // 100 000 ElevenLabs characters and $15.00 a month; warn at 80 %, critical at 95 %.
/// let quota = Quota::monthly("elevenlabs").units(100_000).cost(Usd::new(dec!(15)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub(crate) provider: String,
    pub(crate) model: Option<String>,
    pub(crate) period: Period,
    pub(crate) units: Option<u64>,
    pub(crate) cost: Option<Usd>,
    pub(crate) warn_percent: u8,
    pub(crate) critical_percent: u8,
}

/// The default thresholds.
impl Quota {
    /// The default quota warning threshold: 80 % of the quota.
    pub const DEFAULT_WARNING_PERCENT: u8 = DEFAULT_QUOTA_WARNING_PERCENT;
    /// The default quota critical threshold: 95 % of the quota.
    pub const DEFAULT_CRITICAL_PERCENT: u8 = DEFAULT_QUOTA_CRITICAL_PERCENT;
}

impl Quota {
    fn new(provider: impl Into<String>, period: Period) -> Self {
        Quota {
            provider: provider.into(),
            model: None,
            period,
            units: None,
            cost: None,
            warn_percent: DEFAULT_QUOTA_WARNING_PERCENT,
            critical_percent: DEFAULT_QUOTA_CRITICAL_PERCENT,
        }
    }

    /// A quota per UTC day.
    pub fn daily(provider: impl Into<String>) -> Self {
        Quota::new(provider, Period::Day)
    }

    /// A quota per UTC month.
    pub fn monthly(provider: impl Into<String>) -> Self {
        Quota::new(provider, Period::Month)
    }

    /// Only this model of the provider.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// At most `units` of the usage's unit (characters, tokens, seconds).
    pub fn units(mut self, units: u64) -> Self {
        self.units = Some(units);
        self
    }

    /// At most `cost`.
    pub fn cost(mut self, cost: Usd) -> Self {
        self.cost = Some(cost);
        self
    }

    /// The warning threshold, in percent of the quota.
    pub fn warn_at_percent(mut self, percent: u8) -> Self {
        self.warn_percent = percent;
        self
    }

    /// The critical threshold, in percent of the quota.
    pub fn critical_at_percent(mut self, percent: u8) -> Self {
        self.critical_percent = percent;
        self
    }

    fn subject(&self) -> String {
        match &self.model {
            Some(m) => format!("provider:{}/{m}", self.provider),
            None => format!("provider:{}", self.provider),
        }
    }

    fn matches(&self, provider: &str, model: &str) -> bool {
        self.provider == provider && self.model.as_deref().is_none_or(|m| m == model)
    }
}

/// The current period of a watched figure, with its bounds kept so that an event inside it costs two
/// comparisons rather than a calendar computation.
struct Window {
    period: Period,
    key: i64,
    /// UTC milliseconds `[start, end)`.
    start: i64,
    end: i64,
}

/// Where an event falls against a [`Window`].
enum Place {
    /// In a period that has ended (a late event): not counted.
    Before,
    /// In the current period.
    Current,
    /// In a later period: the window has moved to it, and the counts start again.
    Later,
}

impl Window {
    /// The period of `period` kind containing `ms`.
    fn containing(period: Period, ms: i64) -> Window {
        let (key, start) = period_of(UTC, ms, period);
        let start = start.timestamp_millis();
        let end = match period {
            Period::Day => start + 86_400_000,
            // A month is at most 31 days: 32 days on is always the next one.
            Period::Month => period_of(UTC, start + 32 * 86_400_000, Period::Month)
                .1
                .timestamp_millis(),
        };
        Window {
            period,
            key,
            start,
            end,
        }
    }

    fn place(&mut self, ms: i64) -> Place {
        if ms < self.start {
            Place::Before
        } else if ms < self.end {
            Place::Current
        } else {
            *self = Window::containing(self.period, ms);
            Place::Later
        }
    }
}

/// A quota and what its current period has used.
struct Watched {
    quota: Quota,
    window: Window,
    /// Exact: each event's headline quantity as the decimal it stands for.
    units: Decimal,
    cost: i64,
    /// What the fleet's other servers used (zero without a fleet database).
    others: Arc<OthersUsage>,
}

/// What a fleet's other servers used of a quota in one period, as last read from the fleet database.
#[derive(Debug, Default)]
pub(crate) struct OthersUsage(Mutex<Option<(i64, Decimal, i64)>>);

impl OthersUsage {
    /// Sets the other servers' units and cost in the period whose key is `key`.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn set(&self, key: i64, units: Decimal, cost: i64) {
        *crate::base::sync::lock(&self.0) = Some((key, units, cost));
    }

    /// Their units and cost in the period `key` (zero when what was read is of another period).
    fn of(&self, key: i64) -> (Decimal, i64) {
        match *crate::base::sync::lock(&self.0) {
            Some((k, units, cost)) if k == key => (units, cost),
            _ => (Decimal::ZERO, 0),
        }
    }
}

/// A quota as a fleet refresh sees it: what to read for it, and where to put what was read.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct FleetQuota {
    pub(crate) provider: String,
    pub(crate) model: Option<String>,
    pub(crate) period: Period,
    pub(crate) others: Arc<OthersUsage>,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl FleetQuota {
    /// The current period at `now_ms`: its key and its UTC days `[first, end)` (days since the
    /// epoch).
    pub(crate) fn days(&self, now_ms: i64) -> (i64, i64, i64) {
        let w = Window::containing(self.period, now_ms);
        (w.key, w.start / 86_400_000, w.end / 86_400_000)
    }
}

/// A platform cost threshold and its current period.
struct Total {
    kind: AlertKind,
    threshold: i64,
    window: Window,
    cost: i64,
}

/// What the file holds of the current periods when a meter opens: plain data the store reads (see
/// [`period_start`] for the periods), from which [`Watch::new`] starts counting.
#[derive(Debug, Default)]
pub(crate) struct WatchStart {
    /// The platform's spend today (UTC), in nano-dollars.
    pub(crate) day_cost: i64,
    /// Its spend this month (UTC).
    pub(crate) month_cost: i64,
    /// Each quota's usage in its current period, in the quotas' order: (thousandths of units, cost).
    pub(crate) quota_usage: Vec<(i64, i64)>,
    /// The alerts raised this month: (kind, subject, when).
    pub(crate) fired: Vec<(String, String, i64)>,
}

/// Where the current period of `period` kind begins (UTC milliseconds), as the watch counts it.
pub(crate) fn period_start(period: Period, now_ms: i64) -> i64 {
    Window::containing(period, now_ms).start
}

/// What the writer watches.
pub(crate) struct Watch {
    quotas: Vec<Watched>,
    totals: Vec<Total>,
    /// (kind, subject, period key) of alerts fired in the current periods.
    fired: FxHashSet<(AlertKind, String, i64)>,
}

impl Watch {
    /// The watch for `quotas` and the daily and monthly cost thresholds at `now_ms`, starting from
    /// what the file already holds of the current periods (`start`, read by the store at open).
    pub(crate) fn new(
        quotas: Vec<Quota>,
        daily: Usd,
        monthly: Usd,
        now_ms: i64,
        start: WatchStart,
    ) -> Watch {
        let mut watch = Watch {
            quotas: Vec::with_capacity(quotas.len()),
            totals: Vec::new(),
            fired: FxHashSet::default(),
        };
        for (kind, period, threshold, cost) in [
            (AlertKind::DailyCost, Period::Day, daily, start.day_cost),
            (
                AlertKind::MonthlyCost,
                Period::Month,
                monthly,
                start.month_cost,
            ),
        ] {
            watch.totals.push(Total {
                kind,
                threshold: threshold.to_nanos().unwrap_or(i64::MAX),
                window: Window::containing(period, now_ms),
                cost,
            });
        }
        let usage = start
            .quota_usage
            .into_iter()
            .chain(std::iter::repeat((0, 0)));
        for (quota, (milli_units, cost)) in quotas.into_iter().zip(usage) {
            watch.quotas.push(Watched {
                window: Window::containing(quota.period, now_ms),
                quota,
                units: Decimal::new(milli_units, 3),
                cost,
                others: Arc::default(),
            });
        }
        for (kind, subject, at) in start.fired {
            let Some(kind) = AlertKind::from_name(&kind) else {
                continue;
            };
            for period in [Period::Day, Period::Month] {
                watch
                    .fired
                    .insert((kind, subject.clone(), period_of(UTC, at, period).0));
            }
        }
        watch
    }

    /// The quotas, for a fleet refresh to tell them what the other servers used.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn fleet_quotas(&self) -> Vec<FleetQuota> {
        self.quotas
            .iter()
            .map(|w| FleetQuota {
                provider: w.quota.provider.clone(),
                model: w.quota.model.clone(),
                period: w.quota.period,
                others: Arc::clone(&w.others),
            })
            .collect()
    }

    /// Counts a committed batch's events; returns the alerts they raised.
    pub(crate) fn observe<'a>(
        &mut self,
        events: impl IntoIterator<Item = Spent<'a>>,
    ) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for spent in events {
            let Spent {
                at_ms: at,
                cost,
                provider,
                model,
                measure,
            } = spent;
            for t in &mut self.totals {
                match t.window.place(at) {
                    Place::Before => continue,
                    Place::Current => {}
                    Place::Later => t.cost = 0,
                }
                let key = t.window.key;
                let before = t.cost;
                t.cost = t.cost.saturating_add(cost);
                if before < t.threshold && t.cost >= t.threshold {
                    let id = (t.kind, "platform".to_owned(), key);
                    if self.fired.insert(id) {
                        alerts.push(platform_alert(
                            t.kind,
                            "platform",
                            t.cost,
                            t.threshold,
                            at,
                            "",
                        ));
                    }
                }
            }
            // Turned into an exact decimal only for an event a quota counts (it formats a float).
            let mut units = None;
            for w in &mut self.quotas {
                if !w.quota.matches(provider, model) {
                    continue;
                }
                match w.window.place(at) {
                    Place::Before => continue,
                    Place::Current => {}
                    Place::Later => {
                        w.units = Decimal::ZERO;
                        w.cost = 0;
                    }
                }
                let key = w.window.key;
                w.units += *units.get_or_insert_with(|| units_of(measure.headline().0));
                w.cost = w.cost.saturating_add(cost);
                let (other_units, other_cost) = w.others.of(key);
                let (all_units, all_cost) =
                    (w.units + other_units, w.cost.saturating_add(other_cost));
                for (kind, percent) in [
                    (AlertKind::QuotaCritical, w.quota.critical_percent),
                    (AlertKind::QuotaWarning, w.quota.warn_percent),
                ] {
                    let reached = w.quota.reached(percent, all_units, all_cost);
                    if reached.is_none() {
                        continue;
                    }
                    let subject = w.quota.subject();
                    if self.fired.insert((kind, subject.clone(), key)) {
                        alerts.push(
                            w.quota
                                .alert(kind, percent, reached, all_units, all_cost, at),
                        );
                    }
                    break;
                }
            }
        }
        alerts
    }
}

/// One committed event, as quotas and platform thresholds count it.
pub(crate) struct Spent<'a> {
    /// When it was tracked, in milliseconds since the Unix epoch.
    pub(crate) at_ms: i64,
    /// Its cost in nano-dollars.
    pub(crate) cost: i64,
    pub(crate) provider: &'a str,
    pub(crate) model: &'a str,
    pub(crate) measure: Measure,
}

/// A quantity as the exact decimal it stands for (quantities are whole units, or milliseconds shown
/// as seconds); past the decimal range it counts as the most there is.
fn units_of(quantity: f64) -> Decimal {
    crate::base::money::shortest_decimal(quantity).unwrap_or(Decimal::MAX)
}

/// Which of a quota's thresholds at `percent` a usage reaches: (its cost threshold, if reached; its
/// units threshold, if reached); `None` when neither is.
type Reached = Option<(Option<i64>, Option<Decimal>)>;

impl Quota {
    /// Whether `units` and `cost` reach `percent` of the quota, by cost, by units, or both. Exact: the
    /// cost is compared in integers, the units as decimals.
    fn reached(&self, percent: u8, units: Decimal, cost: i64) -> Reached {
        let by_cost = self.cost.and_then(|c| c.to_nanos().ok()).and_then(|limit| {
            let threshold = i128::from(limit) * i128::from(percent) / 100;
            (i128::from(cost) * 100 >= i128::from(limit) * i128::from(percent))
                .then(|| i64::try_from(threshold).unwrap_or(i64::MAX))
        });
        let by_units = self.units.and_then(|limit| {
            let threshold = Decimal::from(limit) * Decimal::from(percent) / Decimal::from(100);
            (units >= threshold).then_some(threshold)
        });
        (by_cost.is_some() || by_units.is_some()).then_some((by_cost, by_units))
    }

    /// The alert of a threshold reached: names the figure (cost, units or both) that reached it.
    fn alert(
        &self,
        kind: AlertKind,
        percent: u8,
        reached: Reached,
        units: Decimal,
        cost: i64,
        at: i64,
    ) -> Alert {
        let (by_cost, by_units) = reached.unwrap_or_default();
        let period = self.period.adjective();
        let used = units.normalize();
        let mut figures = Vec::new();
        if let (Some(t), Some(limit)) = (by_cost, self.cost) {
            figures.push(format!(
                "{} of {limit} (threshold {})",
                Usd::from_nanos(cost),
                Usd::from_nanos(t)
            ));
        }
        if let (Some(t), Some(limit)) = (by_units, self.units) {
            figures.push(format!(
                "{used} of {limit} units (threshold {})",
                t.normalize()
            ));
        }
        let subject = self.subject();
        Alert {
            kind,
            message: format!(
                "{kind} for {subject}: reached {percent} % of its {period} quota: {}",
                figures.join(" and ")
            ),
            subject,
            call_id: None,
            user_id: None,
            tenant_id: None,
            value: Usd::from_nanos(cost),
            threshold: by_cost.map(Usd::from_nanos),
            usage: by_units.map(|t| AlertUsage::new(used, t, "unit")),
            at: DateTime::from_timestamp_millis(at).unwrap_or_default(),
        }
    }
}

fn platform_alert(
    kind: AlertKind,
    subject: &str,
    value: i64,
    threshold: i64,
    at_ms: i64,
    detail: &str,
) -> Alert {
    let (value, threshold) = (Usd::from_nanos(value), Usd::from_nanos(threshold));
    Alert {
        kind,
        subject: subject.to_owned(),
        call_id: None,
        user_id: None,
        tenant_id: None,
        value,
        threshold: Some(threshold),
        usage: None,
        at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
        message: format!("{kind} for {subject}: reached {value} (threshold {threshold}){detail}"),
    }
}
