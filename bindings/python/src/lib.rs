//! `callmeter._callmeter`: the Rust crate behind the Python package.
//!
//! Every track call prices the usage and hands its event to the meter's writer thread without
//! waiting, as in Rust; what can wait (flush, shutdown, reports) releases the GIL. Money crosses as
//! `decimal.Decimal` both ways, never as a float.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use ::callmeter as cm;
use cm::pricing::{Payment, Usage};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat};
use rust_decimal::Decimal;

create_exception!(
    callmeter,
    CallmeterError,
    PyException,
    "Every callmeter error."
);
create_exception!(
    callmeter,
    UnknownModelError,
    CallmeterError,
    "The catalog has no price for the provider and model (the usage is recorded unpriced all the same)."
);
create_exception!(
    callmeter,
    MissingRateError,
    CallmeterError,
    "The model's price has no rate for a kind of the usage (recorded unpriced)."
);
create_exception!(
    callmeter,
    InvalidQuantityError,
    CallmeterError,
    "A quantity, an amount or a name is out of bounds; nothing was recorded."
);
create_exception!(
    callmeter,
    CallFinalizedError,
    CallmeterError,
    "The call was finalized already."
);
create_exception!(
    callmeter,
    DuplicateCallError,
    CallmeterError,
    "A call with this id is being tracked already."
);
create_exception!(
    callmeter,
    CatalogError,
    CallmeterError,
    "A catalog, a catalog file or a name in it is invalid."
);
create_exception!(
    callmeter,
    ConfigError,
    CallmeterError,
    "A meter setting is invalid."
);
create_exception!(
    callmeter,
    WaitTimeoutError,
    CallmeterError,
    "The writer did not answer within the time allowed."
);
create_exception!(
    callmeter,
    UnpersistedError,
    CallmeterError,
    "Some records could not be written (the database kept failing)."
);
create_exception!(
    callmeter,
    StorageError,
    CallmeterError,
    "The database could not be opened, read or written."
);

/// `callmeter::Error` as the Python exception of its kind.
fn err(e: cm::Error) -> PyErr {
    use cm::Error as E;
    let text = e.to_string();
    match e {
        E::UnknownModel { .. } | E::NoPriceInForce { .. } | E::UnknownDestination { .. } => {
            UnknownModelError::new_err(text)
        }
        E::MissingRate { .. } => MissingRateError::new_err(text),
        E::CallFinalized | E::AlreadyFinalized => CallFinalizedError::new_err(text),
        E::DuplicateCall(_) => DuplicateCallError::new_err(text),
        E::CatalogFile { .. } | E::Catalog { .. } | E::UnknownName { .. } => {
            CatalogError::new_err(text)
        }
        E::InvalidConfig { .. } | E::InvalidBudget(_) => ConfigError::new_err(text),
        E::Timeout(_) => WaitTimeoutError::new_err(text),
        E::Unpersisted { .. } => UnpersistedError::new_err(text),
        E::InvalidQuantity { .. }
        | E::InvalidAmount { .. }
        | E::InvalidCallInfo(_)
        | E::NameTooLong { .. }
        | E::CostOverflow { .. }
        | E::CallCostOutOfRange { .. }
        | E::AmountOutOfRange => InvalidQuantityError::new_err(text),
        _ => StorageError::new_err(text),
    }
}

/// A money argument: a `Decimal`, an `int` or a `str` of dollars; a float is refused, since it cannot
/// hold most cent amounts exactly.
fn money(value: &Bound<'_, PyAny>) -> PyResult<cm::Usd> {
    if value.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(
            "money is exact in callmeter: pass a decimal.Decimal, an int or a str, not a float",
        ));
    }
    let text = value.str()?.to_string();
    Decimal::from_str(text.trim())
        .map(cm::Usd::new)
        .map_err(|e| PyValueError::new_err(format!("{text:?} is not an amount of dollars: {e}")))
}

/// An amount as Python receives it: a `Decimal` of dollars without trailing zeros.
fn dollars(amount: cm::Usd) -> Decimal {
    amount.as_decimal().normalize()
}

/// What a track call did: its cost, the call's total, and the verdict on the call's budget.
#[pyclass(module = "callmeter._callmeter", frozen, eq, eq_int)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Within budget.
    Fine,
    /// The budget's warning threshold is reached.
    Warning,
    /// The call has reached its budget, or its user's or tenant's limit: end it.
    Cutoff,
}

impl From<cm::Verdict> for Verdict {
    fn from(v: cm::Verdict) -> Self {
        match v {
            cm::Verdict::Warning => Verdict::Warning,
            cm::Verdict::Cutoff => Verdict::Cutoff,
            _ => Verdict::Fine,
        }
    }
}

/// The result of a track call.
#[pyclass(module = "callmeter._callmeter", frozen, freelist = 64)]
struct Tracked {
    cost: cm::Usd,
    call_total: cm::Usd,
    remaining: cm::Usd,
    #[pyo3(get)]
    verdict: Verdict,
}

#[pymethods]
impl Tracked {
    /// What this usage cost, exactly.
    #[getter]
    fn cost(&self) -> Decimal {
        dollars(self.cost)
    }

    /// The call's total after it.
    #[getter]
    fn call_total(&self) -> Decimal {
        dollars(self.call_total)
    }

    /// What the call's budget has left.
    #[getter]
    fn remaining(&self) -> Decimal {
        dollars(self.remaining)
    }

    fn __repr__(&self) -> String {
        format!(
            "Tracked(cost={}, call_total={}, verdict={:?})",
            self.cost, self.call_total, self.verdict
        )
    }
}

fn tracked(t: cm::Tracked) -> Tracked {
    Tracked {
        cost: t.cost,
        call_total: t.call_total,
        remaining: t.remaining,
        verdict: t.verdict.into(),
    }
}

/// Token counts, in callmeter's terms (none overlaps another).
#[allow(clippy::too_many_arguments)]
fn tokens(
    input: u64,
    output: u64,
    cached_input: u64,
    cache_write: u64,
    cache_write_1h: u64,
    reasoning: u64,
    audio_input: u64,
    cached_audio_input: u64,
    audio_output: u64,
) -> cm::TokenUsage {
    cm::TokenUsage::new(input, output)
        .with_cached_input(cached_input)
        .with_cache_write(cache_write)
        .with_cache_write_1h(cache_write_1h)
        .with_reasoning(reasoning)
        .with_audio(audio_input, audio_output)
        .with_cached_audio_input(cached_audio_input)
}

/// The meter: one per process, shared by every call.
#[pyclass(module = "callmeter._callmeter", frozen)]
struct Meter {
    meter: cm::Meter,
    guard: Mutex<Option<cm::MeterGuard>>,
}

/// `{"daily_cost": …, "monthly_cost": …, "daily_minutes": …, "monthly_minutes": …}` as limits.
fn limits(spec: &Bound<'_, PyDict>) -> PyResult<cm::Limits> {
    let mut l = cm::Limits::none();
    for (key, value) in spec.iter() {
        let key: String = key.extract()?;
        l = match key.as_str() {
            "daily_cost" => l.daily_cost(money(&value)?),
            "monthly_cost" => l.monthly_cost(money(&value)?),
            "daily_minutes" => l.daily_minutes(value.extract()?),
            "monthly_minutes" => l.monthly_minutes(value.extract()?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "{other:?} is not a limit: daily_cost, monthly_cost, daily_minutes, monthly_minutes"
                )));
            }
        };
    }
    Ok(l)
}

#[pymethods]
impl Meter {
    #[new]
    #[pyo3(signature = (
        path = PathBuf::from("callmeter.db"),
        *,
        catalog = None,
        budget = None,
        warn_at_percent = None,
        auto_cutoff = None,
        max_call_seconds = None,
        user_limits = None,
        tenant_limits = None,
        stale_price_alert_days = None,
        queue_capacity = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        catalog: Option<Vec<PathBuf>>,
        budget: Option<Bound<'_, PyAny>>,
        warn_at_percent: Option<u8>,
        auto_cutoff: Option<bool>,
        max_call_seconds: Option<u64>,
        user_limits: Option<Bound<'_, PyDict>>,
        tenant_limits: Option<Bound<'_, PyDict>>,
        stale_price_alert_days: Option<u32>,
        queue_capacity: Option<usize>,
    ) -> PyResult<Self> {
        let mut builder = cm::Meter::builder().path(path);
        if let Some(files) = catalog {
            let mut c = cm::Catalog::builtin().into_builder();
            for f in files {
                c = c.load_file(&f).map_err(err)?;
            }
            builder = builder.catalog(c.build().map_err(err)?);
        }
        let mut per_call = cm::Budget::default();
        if let Some(cost) = budget {
            per_call = per_call.max_cost(money(&cost)?);
        }
        if let Some(p) = warn_at_percent {
            per_call = per_call.warn_at_percent(p);
        }
        if let Some(on) = auto_cutoff {
            per_call = per_call.auto_cutoff(on);
        }
        if let Some(s) = max_call_seconds {
            per_call = per_call.max_duration(Duration::from_secs(s));
        }
        builder = builder.budget(per_call);
        if let Some(l) = user_limits {
            builder = builder.user_limits(limits(&l)?);
        }
        if let Some(l) = tenant_limits {
            builder = builder.tenant_limits(limits(&l)?);
        }
        if let Some(days) = stale_price_alert_days {
            builder = builder.stale_price_alert(days);
        }
        if let Some(n) = queue_capacity {
            builder = builder.queue_capacity(n);
        }
        let (meter, guard) = py.detach(|| builder.open()).map_err(err)?;
        Ok(Meter {
            meter,
            guard: Mutex::new(Some(guard)),
        })
    }

    /// Starts tracking a call.
    #[pyo3(signature = (call_id, *, user = None, tenant = None, session_kind = None, metadata = None))]
    fn start_call(
        &self,
        call_id: String,
        user: Option<String>,
        tenant: Option<String>,
        session_kind: Option<String>,
        metadata: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Call> {
        let mut info = cm::CallInfo::new(call_id);
        if let Some(u) = user {
            info = info.user(u);
        }
        if let Some(t) = tenant {
            info = info.tenant(t);
        }
        if let Some(k) = session_kind {
            info = info.session_kind(k);
        }
        if let Some(m) = metadata {
            for (k, v) in m.iter() {
                info = info.metadata(k.str()?.to_string(), v.str()?.to_string());
            }
        }
        let call = self.meter.start_call(info).map_err(err)?;
        Ok(Call { call })
    }

    /// The meter's counters: events written, dropped, calls, reservations …
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_value(py, &self.meter.stats())
    }

    /// Waits until every event queued so far is committed (the GIL is released meanwhile).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.meter.flush()).map_err(err)
    }

    /// Drains and commits everything and stops the writer; returns the final counters. A second
    /// shutdown does nothing and returns the counters again.
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let guard = self.guard.lock().ok().and_then(|mut g| g.take());
        let stats = match guard {
            Some(g) => py.detach(|| g.shutdown()).map_err(err)?,
            None => self.meter.stats(),
        };
        json_value(py, &stats)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<bool> {
        self.shutdown(py)?;
        Ok(false)
    }
}

/// Fields whose value is an amount of dollars (callmeter serializes them as decimal strings).
const MONEY: &[&str] = &[
    "total",
    "revenue",
    "cost",
    "margin",
    "held",
    "spent",
    "remaining",
    "estimate",
    "value",
    "threshold",
    "fee",
    "fees",
    "billed",
    "computed",
    "delta",
    "amount",
    "call_total",
    "cost_per_minute",
    "fixed_costs",
    "variable_cost",
    "payment_fees",
    "break_even_price",
];

/// Maps whose every value is an amount of dollars.
const MONEY_MAPS: &[&str] = &["by_category", "by_provider", "by_agent", "by_model"];

/// A value serialized to JSON, as plain Python objects; amounts (by field name) as `Decimal`.
fn json_value<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| StorageError::new_err(e.to_string()))?;
    to_py(py, &value, false)
}

fn to_py<'py>(
    py: Python<'py>,
    v: &serde_json::Value,
    is_money: bool,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as V;
    Ok(match v {
        V::Null => py.None().into_bound(py),
        V::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
        V::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n
                .to_string()
                .parse::<f64>()
                .unwrap_or(f64::NAN)
                .into_pyobject(py)?
                .into_any(),
        },
        V::String(s) if is_money => match Decimal::from_str(s) {
            Ok(d) => d.into_pyobject(py)?.into_any(),
            Err(_) => s.into_pyobject(py)?.into_any(),
        },
        V::String(s) => s.into_pyobject(py)?.into_any(),
        V::Array(items) => {
            let list = pyo3::types::PyList::empty(py);
            for item in items {
                list.append(to_py(py, item, is_money)?)?;
            }
            list.into_any()
        }
        V::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                let money = (is_money && !item.is_object()) || MONEY.contains(&k.as_str());
                let value = if MONEY_MAPS.contains(&k.as_str()) {
                    money_map(py, item)?
                } else {
                    to_py(py, item, money)?
                };
                dict.set_item(k, value)?;
            }
            dict.into_any()
        }
    })
}

/// A map whose values are amounts.
fn money_map<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        serde_json::Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, to_py(py, item, true)?)?;
            }
            Ok(dict.into_any())
        }
        other => to_py(py, other, true),
    }
}

/// One call being tracked.
#[pyclass(module = "callmeter._callmeter", frozen)]
struct Call {
    call: cm::CallCostTracker,
}

#[pymethods]
impl Call {
    /// The call id.
    #[getter]
    fn call_id(&self) -> String {
        self.call.call_id().to_owned()
    }

    /// The call's total so far.
    #[getter]
    fn total(&self) -> Decimal {
        dollars(self.call.total())
    }

    /// Text-to-speech: `characters` synthesised.
    fn track_tts(&self, provider: &str, model: &str, characters: u64) -> PyResult<Tracked> {
        self.call
            .track_tts(provider, model, characters)
            .map(tracked)
            .map_err(err)
    }

    /// Speech-to-text: `seconds` of audio transcribed.
    fn track_stt(&self, provider: &str, model: &str, seconds: f64) -> PyResult<Tracked> {
        self.call
            .track_stt(provider, model, seconds)
            .map(tracked)
            .map_err(err)
    }

    /// A model request's tokens. Counts do not overlap: `input_tokens` excludes cached and audio
    /// tokens, `output_tokens` excludes reasoning and audio.
    #[pyo3(signature = (
        provider, model, *, input_tokens = 0, output_tokens = 0, cached_input_tokens = 0,
        cache_write_tokens = 0, cache_write_1h_tokens = 0, reasoning_tokens = 0,
        audio_input_tokens = 0, cached_audio_input_tokens = 0, audio_output_tokens = 0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn track_inference(
        &self,
        provider: &str,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
        cache_write_tokens: u64,
        cache_write_1h_tokens: u64,
        reasoning_tokens: u64,
        audio_input_tokens: u64,
        cached_audio_input_tokens: u64,
        audio_output_tokens: u64,
    ) -> PyResult<Tracked> {
        let t = tokens(
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            reasoning_tokens,
            audio_input_tokens,
            cached_audio_input_tokens,
            audio_output_tokens,
        );
        self.call
            .track_inference(provider, model, t)
            .map(tracked)
            .map_err(err)
    }

    /// Telephony or a session billed by time: `seconds` more of the call (of one of its legs).
    #[pyo3(signature = (provider, model, seconds, *, leg = 0))]
    fn track_duration(
        &self,
        provider: &str,
        model: &str,
        seconds: f64,
        leg: u8,
    ) -> PyResult<Tracked> {
        self.call
            .track_duration_of_leg(provider, model, leg, seconds)
            .map(tracked)
            .map_err(err)
    }

    /// A session whose price charges a minimum at its start has started (GPT-Live over WebRTC).
    fn track_session_start(&self, provider: &str, model: &str) -> PyResult<Tracked> {
        self.call
            .track_session_start(provider, model)
            .map(tracked)
            .map_err(err)
    }

    /// A realtime model's audio, in seconds heard and spoken.
    fn track_realtime_audio(
        &self,
        provider: &str,
        model: &str,
        input_seconds: f64,
        output_seconds: f64,
    ) -> PyResult<Tracked> {
        self.call
            .track_realtime_audio(provider, model, input_seconds, output_seconds)
            .map(tracked)
            .map_err(err)
    }

    /// A payment of `amount` dollars, priced by the method's fee.
    #[pyo3(signature = (provider, model, amount, *, international = false, currency_conversion = false))]
    fn track_payment(
        &self,
        provider: &str,
        model: &str,
        amount: Bound<'_, PyAny>,
        international: bool,
        currency_conversion: bool,
    ) -> PyResult<Tracked> {
        let mut payment = Payment::new(money(&amount)?);
        if international {
            payment = payment.international();
        }
        if currency_conversion {
            payment = payment.currency_conversion();
        }
        self.call
            .track_payment_with(provider, model, payment)
            .map(tracked)
            .map_err(err)
    }

    /// Holds the estimate of `characters` of speech before the request.
    fn reserve_tts(
        &self,
        py: Python<'_>,
        provider: &str,
        model: &str,
        characters: u64,
    ) -> PyResult<Py<PyAny>> {
        self.reserve(py, provider, model, Usage::Characters(characters))
    }

    /// Holds the estimate of `seconds` of transcription before the request.
    fn reserve_stt(
        &self,
        py: Python<'_>,
        provider: &str,
        model: &str,
        seconds: f64,
    ) -> PyResult<Py<PyAny>> {
        self.reserve(py, provider, model, Usage::AudioSeconds(seconds))
    }

    /// Holds the estimate of a model request before it is sent.
    #[pyo3(signature = (
        provider, model, *, input_tokens = 0, output_tokens = 0, cached_input_tokens = 0,
        cache_write_tokens = 0, cache_write_1h_tokens = 0, reasoning_tokens = 0,
        audio_input_tokens = 0, cached_audio_input_tokens = 0, audio_output_tokens = 0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn reserve_inference(
        &self,
        py: Python<'_>,
        provider: &str,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
        cache_write_tokens: u64,
        cache_write_1h_tokens: u64,
        reasoning_tokens: u64,
        audio_input_tokens: u64,
        cached_audio_input_tokens: u64,
        audio_output_tokens: u64,
    ) -> PyResult<Py<PyAny>> {
        let t = tokens(
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            reasoning_tokens,
            audio_input_tokens,
            cached_audio_input_tokens,
            audio_output_tokens,
        );
        self.reserve(py, provider, model, Usage::Tokens(t))
    }

    /// Ends the call: `outcome` is `"completed"` or `"failed"` (with `reason`). Returns the call's
    /// summary; its money is `Decimal`.
    #[pyo3(signature = (outcome = "completed", reason = None))]
    fn finalize<'py>(
        &self,
        py: Python<'py>,
        outcome: &str,
        reason: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let outcome = match outcome {
            "completed" => cm::Outcome::Completed,
            "failed" => cm::Outcome::Failed(reason.unwrap_or_default()),
            other => {
                return Err(PyValueError::new_err(format!(
                    "{other:?} is not an outcome: \"completed\" or \"failed\""
                )));
            }
        };
        let summary = self.call.finalize(outcome).map_err(err)?;
        json_value(py, &summary)
    }
}

impl Call {
    fn reserve(
        &self,
        py: Python<'_>,
        provider: &str,
        model: &str,
        usage: Usage,
    ) -> PyResult<Py<PyAny>> {
        let reserved = match self.call.reserve(provider, model, usage).map_err(err)? {
            cm::Reserve::Reserved(r) => Py::new(
                py,
                Reservation {
                    inner: Mutex::new(Some(r)),
                },
            )?
            .into_any(),
            cm::Reserve::Refused(r) => Py::new(
                py,
                Refusal {
                    by: refused_by(&r.by),
                    estimate: r.estimate,
                    spent: r.spent,
                    held: r.held,
                    remaining: r.remaining,
                },
            )?
            .into_any(),
        };
        Ok(reserved)
    }
}

/// `budget`, or `user u1 day`: what refused a reservation.
fn refused_by(by: &cm::RefusedBy) -> String {
    match by {
        cm::RefusedBy::Limit { kind, id, period } => {
            let kind = match kind {
                cm::control::SubjectKind::User => "user",
                cm::control::SubjectKind::Tenant => "tenant",
            };
            format!("{kind} {id} {}", period.as_str())
        }
        _ => "budget".to_owned(),
    }
}

/// A reservation held: settle it with what the request used, or release it if the request was never
/// sent. Dropped unsettled, it is recorded at its estimate.
#[pyclass(module = "callmeter._callmeter", frozen)]
struct Reservation {
    inner: Mutex<Option<cm::Reservation>>,
}

impl Reservation {
    fn take(&self) -> PyResult<cm::Reservation> {
        self.inner
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .ok_or_else(|| {
                CallFinalizedError::new_err("the reservation was settled or released already")
            })
    }

    fn settle(&self, usage: Usage) -> PyResult<Tracked> {
        let settled = self.take()?.settle(usage).map_err(err)?;
        Ok(tracked(settled.tracked))
    }
}

#[pymethods]
impl Reservation {
    /// Always true: the reservation was granted.
    #[getter]
    fn granted(&self) -> bool {
        true
    }

    /// What it holds.
    #[getter]
    fn held(&self) -> Decimal {
        self.inner
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|r| dollars(r.held())))
            .unwrap_or_default()
    }

    /// The request synthesised `characters`.
    fn settle_tts(&self, characters: u64) -> PyResult<Tracked> {
        self.settle(Usage::Characters(characters))
    }

    /// The request transcribed `seconds`.
    fn settle_stt(&self, seconds: f64) -> PyResult<Tracked> {
        self.settle(Usage::AudioSeconds(seconds))
    }

    /// The request used these tokens.
    #[pyo3(signature = (
        *, input_tokens = 0, output_tokens = 0, cached_input_tokens = 0, cache_write_tokens = 0,
        cache_write_1h_tokens = 0, reasoning_tokens = 0, audio_input_tokens = 0,
        cached_audio_input_tokens = 0, audio_output_tokens = 0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn settle_inference(
        &self,
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
        cache_write_tokens: u64,
        cache_write_1h_tokens: u64,
        reasoning_tokens: u64,
        audio_input_tokens: u64,
        cached_audio_input_tokens: u64,
        audio_output_tokens: u64,
    ) -> PyResult<Tracked> {
        self.settle(Usage::Tokens(tokens(
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            reasoning_tokens,
            audio_input_tokens,
            cached_audio_input_tokens,
            audio_output_tokens,
        )))
    }

    /// The request was never sent: nothing is recorded.
    fn release(&self) -> PyResult<()> {
        self.take()?.release();
        Ok(())
    }
}

/// A reservation refused: the request would pass a limit. Nothing was recorded.
#[pyclass(module = "callmeter._callmeter", frozen)]
struct Refusal {
    /// Which limit: `budget`, or `user daily cost limit` …
    #[pyo3(get)]
    by: String,
    estimate: cm::Usd,
    spent: cm::Usd,
    held: cm::Usd,
    remaining: cm::Usd,
}

#[pymethods]
impl Refusal {
    /// Always false: the reservation was refused.
    #[getter]
    fn granted(&self) -> bool {
        false
    }
    /// What the reservation asked to hold.
    #[getter]
    fn estimate(&self) -> Decimal {
        dollars(self.estimate)
    }
    /// Spent under the limit so far.
    #[getter]
    fn spent(&self) -> Decimal {
        dollars(self.spent)
    }
    /// Held under the limit by other reservations.
    #[getter]
    fn held(&self) -> Decimal {
        dollars(self.held)
    }
    /// What the limit has left.
    #[getter]
    fn remaining(&self) -> Decimal {
        dollars(self.remaining)
    }
    fn __repr__(&self) -> String {
        format!(
            "Refusal(by={:?}, estimate={}, remaining={})",
            self.by, self.estimate, self.remaining
        )
    }
}

/// Reads a database the meter wrote (the GIL is released while it reads).
#[pyclass(module = "callmeter._callmeter", frozen)]
struct Reports {
    reports: Mutex<cm::Reports>,
}

#[pymethods]
impl Reports {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let reports = py.detach(|| cm::Reports::open(&path)).map_err(err)?;
        Ok(Reports {
            reports: Mutex::new(reports),
        })
    }

    /// One call's report (its events, totals, by category and provider), or `None` for an unknown
    /// call.
    fn call<'py>(&self, py: Python<'py>, call_id: String) -> PyResult<Option<Bound<'py, PyAny>>> {
        let report = py.detach(|| match self.reports.lock() {
            Ok(r) => r.call(&call_id),
            Err(_) => Err(cm::Error::ShutDown),
        });
        match report.map_err(err)? {
            Some(r) => json_value(py, &r).map(Some),
            None => Ok(None),
        }
    }

    /// The platform's report over the days `start` to `end` (`YYYY-MM-DD`, inclusive).
    fn platform<'py>(
        &self,
        py: Python<'py>,
        start: String,
        end: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let day = |s: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|e| PyValueError::new_err(format!("{s:?} is not a YYYY-MM-DD day: {e}")))
        };
        let (from, to) = (day(&start)?, day(&end)?);
        let report = py.detach(|| match self.reports.lock() {
            Ok(r) => r.platform(from, to),
            Err(_) => Err(cm::Error::ShutDown),
        });
        json_value(py, &report.map_err(err)?)
    }
}

#[pymodule]
fn _callmeter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Meter>()?;
    m.add_class::<Call>()?;
    m.add_class::<Tracked>()?;
    m.add_class::<Verdict>()?;
    m.add_class::<Reservation>()?;
    m.add_class::<Refusal>()?;
    m.add_class::<Reports>()?;
    m.add("CallmeterError", py.get_type::<CallmeterError>())?;
    m.add("UnknownModelError", py.get_type::<UnknownModelError>())?;
    m.add("MissingRateError", py.get_type::<MissingRateError>())?;
    m.add(
        "InvalidQuantityError",
        py.get_type::<InvalidQuantityError>(),
    )?;
    m.add("CallFinalizedError", py.get_type::<CallFinalizedError>())?;
    m.add("DuplicateCallError", py.get_type::<DuplicateCallError>())?;
    m.add("CatalogError", py.get_type::<CatalogError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("WaitTimeoutError", py.get_type::<WaitTimeoutError>())?;
    m.add("UnpersistedError", py.get_type::<UnpersistedError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    Ok(())
}
