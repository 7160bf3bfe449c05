//! The crate's one error type.

use std::path::PathBuf;

use crate::base::usage::UsageKind;

/// Everything that can go wrong in callmeter.
///
/// Some errors come back from a track call whose usage was **still recorded**: the provider billed it, so
/// callmeter keeps it (unpriced, or after the call ended) rather than lose it. [`Error::is_recorded`] tells
/// them apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The catalog has no price for this provider and model. The usage was recorded as unpriced (cost zero)
    /// and counted in [`Stats::unpriced`](crate::Stats::unpriced).
    #[error(
        "no price for {provider}/{model} in the catalog{} (usage recorded as unpriced)",
        did_you_mean(suggestions)
    )]
    UnknownModel {
        /// Provider as given.
        provider: String,
        /// Model as given.
        model: String,
        /// The nearest catalog names (`provider/model`), nearest first; may be empty.
        suggestions: Vec<String>,
    },

    /// A telephony table by destination has no rate for a call leg's route (a number no prefix
    /// matches, a country without a default, an inbound number type or SIP it does not price). The
    /// usage was recorded under `product:unknown`: unpriced, or at that entry's rate when the catalog
    /// has one.
    #[error(
        "no rate for {route} in {provider}/{product}'s destinations (usage recorded as {product}:unknown, {})",
        if *priced { "at its fallback rate" } else { "unpriced" }
    )]
    UnknownDestination {
        /// Provider as given.
        provider: String,
        /// Product as given.
        product: String,
        /// The route, as text (`to +33 1 23 45 67 89`).
        route: String,
        /// Whether the catalog priced `product:unknown` (a fallback rate).
        priced: bool,
    },

    /// A provider's usage or cost record that cannot be imported: an amount that is not a number, a
    /// currency without an exchange rate, a period that is not one day. Nothing of the import was
    /// stored.
    #[error("{provider} record {record}: {reason}")]
    BilledRecord {
        /// The provider.
        provider: String,
        /// The record (its id, or its line).
        record: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The model is in the catalog, but none of its price versions is in force at the time of the usage
    /// (they all start later, or the last one ended). The usage was recorded as unpriced.
    #[error("no price for {provider}/{model} in force at {at} (usage recorded as unpriced)")]
    NoPriceInForce {
        /// Provider as given.
        provider: String,
        /// Model as given.
        model: String,
        /// When the usage was tracked.
        at: chrono::DateTime<chrono::Utc>,
    },

    /// The model is in the catalog but has no rate for one kind of usage it was given. The kinds that have a
    /// rate were billed; the usage was recorded and counted as unpriced.
    #[error("{provider}/{model} has no rate for {kind} (usage recorded, that part unpriced)")]
    MissingRate {
        /// Provider as given.
        provider: String,
        /// Model as given.
        model: String,
        /// The kind of usage without a rate.
        kind: UsageKind,
    },

    /// The cost of the usage does not fit in nano-dollars (an absurd price or quantity). The usage was
    /// recorded as unpriced.
    #[error("cost of {provider}/{model} usage out of range (usage recorded as unpriced)")]
    CostOverflow {
        /// Provider as given.
        provider: String,
        /// Model as given.
        model: String,
    },

    /// The call's total cost (or revenue) would pass [`MAX_CALL_COST`](crate::CallCostTracker::MAX_CALL_COST) with this
    /// usage. The usage was recorded as unpriced; the call's total stays where it was (a
    /// [`Verdict::Cutoff`](crate::Verdict::Cutoff) stays a cutoff).
    #[error(
        "call total would pass the largest amount a call may record, {max} (usage recorded as unpriced)"
    )]
    CallCostOutOfRange {
        /// The largest total a call may record.
        max: crate::Usd,
    },

    /// A provider, model or agent name longer than [`MAX_NAME_LEN`](crate::CallCostTracker::MAX_NAME_LEN) bytes. For a
    /// track call, the usage was recorded as unpriced under the name cut to that length.
    #[error("{what} name of {len} bytes is longer than the {max} allowed")]
    NameTooLong {
        /// Which name (`"provider"`, `"model"`, `"agent"`).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The longest allowed.
        max: usize,
    },

    /// The call was already finalized. The usage was still recorded against the call in the database (it
    /// was spent), but it is not part of the summary that `finalize` returned.
    #[error("call already finalized (late usage recorded)")]
    CallFinalized,

    /// `finalize` was called a second time; nothing was counted twice.
    #[error("call already finalized")]
    AlreadyFinalized,

    /// A quantity was not a number, negative, or too large to be believable. Nothing was recorded.
    #[error("invalid {what}: {reason}")]
    InvalidQuantity {
        /// What was being measured.
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A call's identifying information was unusable (for example an empty call id).
    #[error("invalid call info: {0}")]
    InvalidCallInfo(&'static str),

    /// A date range reaches past the dates callmeter can compute with (the period before it begins
    /// before the earliest date `chrono` represents).
    #[error("the days {from} to {to} reach past the dates callmeter can compute with")]
    DateOutOfRange {
        /// The range's first day.
        from: chrono::NaiveDate,
        /// Its last day.
        to: chrono::NaiveDate,
    },

    /// An export could not be written to its destination.
    #[error("export failed: {0}")]
    Export(String),

    /// A setting (an environment variable, a threshold) that cannot be used.
    #[error("invalid setting {name}: {reason}")]
    InvalidConfig {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// A budget that cannot be applied (a negative maximum, a percentage above 100).
    #[error("invalid budget: {0}")]
    InvalidBudget(&'static str),

    /// A call with this id is already being tracked by this meter.
    #[error("call {0} is already being tracked")]
    DuplicateCall(String),

    /// A string was not a valid amount of dollars.
    #[error("not an amount of dollars: {input:?}")]
    InvalidAmount {
        /// The text given.
        input: String,
    },

    /// An amount does not fit in nano-dollars (about ±9.2 billion dollars), or a cost overflowed.
    #[error("amount out of range")]
    AmountOutOfRange,

    /// A name (category, status …) was not one callmeter knows.
    #[error("unknown {what}: {name:?}")]
    UnknownName {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        name: String,
    },

    /// A catalog file could not be read or has an invalid entry.
    #[error(
        "catalog file {}{}{}: {reason}",
        path.display(),
        entry.as_ref().map(|e| format!(", entry {e}")).unwrap_or_default(),
        field.as_ref().map(|f| format!(", field {f}")).unwrap_or_default()
    )]
    CatalogFile {
        /// The file.
        path: PathBuf,
        /// The entry (`provider/model`, or the fixed cost's name), when the error is in one.
        entry: Option<String>,
        /// The field of the entry, when the error is in one.
        field: Option<String>,
        /// What is wrong.
        reason: String,
    },

    /// A catalog entry is inconsistent.
    #[error("catalog entry {entry}: {field}: {reason}")]
    Catalog {
        /// `provider/model` of the entry.
        entry: String,
        /// The offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The database could not be opened, migrated or written.
    #[error("database {path}: {context}")]
    Storage {
        /// The database: a file's path, or a PostgreSQL database shown as
        /// `postgres://user@host:port/db` (never with its password).
        path: PathBuf,
        /// What callmeter was doing.
        context: &'static str,
        /// The underlying SQLite or PostgreSQL error, opaque so that the database libraries'
        /// versions are not part of this crate's API: its message is in the error's `Display`.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The database was written by a development build of callmeter from before the first release,
    /// whose layout cannot be migrated. Move the file away; callmeter creates a new one.
    #[error(
        "database {} has callmeter's pre-release schema version {found}, which cannot be migrated: \
         move the file away and callmeter will create a new one",
        path.display()
    )]
    PreReleaseSchema {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
    },

    /// The database cannot be written (a read-only file, folder or file system, no permission): found
    /// when the meter opens, by a real write, rather than by every event failing later.
    #[error("database {} cannot be written: {reason}", path.display())]
    NotWritable {
        /// The database file.
        path: PathBuf,
        /// The cause, as the operating system or SQLite gave it.
        reason: String,
    },

    /// The database file was written by a newer callmeter, or is not a callmeter database.
    #[error(
        "database {path}: schema version {found} is not supported (this build knows {supported})"
    )]
    SchemaVersion {
        /// The database: a file's path, or a PostgreSQL database shown as
        /// `postgres://user@host:port/db` (never with its password).
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build can read.
        supported: i64,
    },

    /// The file is a SQLite database, but not one callmeter created.
    #[error(
        "database {path}: not a callmeter database (it has other tables and no callmeter schema version)"
    )]
    ForeignDatabase {
        /// The database: a file's path, or a PostgreSQL database shown as
        /// `postgres://user@host:port/db` (never with its password).
        path: PathBuf,
    },

    /// A report was asked of a file that does not exist.
    #[error("database {path}: no such file")]
    NoSuchDatabase {
        /// The database file.
        path: PathBuf,
    },

    /// A report was asked of a file with no tables at all (an empty file, or a database no meter
    /// has opened).
    #[error(
        "database {path}: empty (no callmeter tables; a meter creates them when it opens the file)"
    )]
    EmptyDatabase {
        /// The database file.
        path: PathBuf,
    },

    /// The writer thread could not be started.
    #[error("could not start the writer thread")]
    Spawn(#[source] std::io::Error),

    /// The writer did not answer within the allowed time (the database may be locked or failing).
    #[error("the writer did not answer within {0:?}")]
    Timeout(std::time::Duration),

    /// The writer has stopped: the meter was shut down.
    #[error("the meter has been shut down")]
    ShutDown,

    /// Shutdown ended (at its timeout) with records still unwritten: the database kept failing. Each
    /// call with something unwritten is listed with its events and their cost.
    #[error(
        "{unpersisted} events could not be written before shutdown ({write_errors} write errors){}",
        list_calls(calls)
    )]
    Unpersisted {
        /// Events accepted but not in the database.
        unpersisted: u64,
        /// Failed write attempts during the meter's life.
        write_errors: u64,
        /// What each call could not write.
        calls: Vec<UnpersistedCall>,
    },
}

/// What one call could not write before shutdown (see [`Error::Unpersisted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpersistedCall {
    /// The call.
    pub call_id: String,
    /// Its events not written (coalesced rows count the events they stand for).
    pub events: u64,
    /// Their cost.
    pub cost: crate::Usd,
    /// Whether its start or final record (status, end time) was not written either.
    pub call_record: bool,
}

impl UnpersistedCall {
    pub(crate) fn new(call_id: String, events: u64, cost: crate::Usd, call_record: bool) -> Self {
        UnpersistedCall {
            call_id,
            events,
            cost,
            call_record,
        }
    }
}

fn list_calls(calls: &[UnpersistedCall]) -> String {
    calls
        .iter()
        .map(|c| {
            format!(
                "; call {}: {} events, {}{}",
                c.call_id,
                c.events,
                c.cost,
                if c.call_record {
                    ", and its call record"
                } else {
                    ""
                }
            )
        })
        .collect()
}

impl Error {
    /// True when the usage of the failed track call was nevertheless recorded (unpriced or late).
    pub fn is_recorded(&self) -> bool {
        matches!(
            self,
            Error::UnknownModel { .. }
                | Error::UnknownDestination { .. }
                | Error::NoPriceInForce { .. }
                | Error::MissingRate { .. }
                | Error::CostOverflow { .. }
                | Error::CallCostOutOfRange { .. }
                | Error::NameTooLong { .. }
                | Error::CallFinalized
        )
    }
}

/// `Result` with callmeter's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}
