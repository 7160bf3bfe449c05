//! Simulates a voice platform's month of calls through callmeter and checks that nothing was lost.
//!
//! ```text
//! cargo run --release --example simulate_calls -- --calls 1000 --days 30 --db callmeter.db --seed 7
//! ```
//!
//! The calls are spread over `--days` simulated days (ending today, UTC, the window `callmeter
//! report` shows by default, unless `--start YYYY-MM-DD` says where they begin): fewer at weekends, most in working hours, each on the
//! timeline for as long as it lasts. The meter reads a simulated clock ([`MeterBuilder::clock`]), so
//! calls, events and limits' days are those of the simulation, and the run is reproducible: the same
//! `--seed`, `--calls`, `--days` and `--start` give the same calls, events, totals and report whatever
//! `--threads` is (a tenant's calls, and so its users' daily limits, are all simulated by one thread,
//! in time order). The database is written afresh unless `--append` is given.
//!
//! With the `postgres` feature, `--postgres URL --server NAME` also ships the run to a fleet database
//! and checks that its totals equal the local ones; run it for two servers against one PostgreSQL,
//! then `callmeter report --postgres URL`, to see a fleet:
//!
//! ```text
//! cargo run --release --features postgres --example simulate_calls -- \
//!     --db a.db --postgres postgres://localhost/callmeter --server agent-a
//! ```
//!
//! Four pipelines, with realistic spreads (about five minutes a call, about 400 characters of speech a
//! minute, about 10 000 tokens a turn, about 5 % of calls failing mid-way):
//!
//! - **phone**: Twilio outbound, priced by destination (about one call in nine goes abroad: the UK,
//!   Mexico, India, the Philippines) + Deepgram nova-2 streaming + Cerebras llama3.1-8b (about 5 % of calls
//!   fall back to gpt-4-turbo) + ElevenLabs turbo; completed calls are charged $4.99 by card (Stripe,
//!   card not present);
//! - **council**: LiveKit room + Deepgram nova-3 + Claude Sonnet for each of 8, 6 or 14 agents plus a
//!   synthesis + Cartesia sonic-3;
//! - **assistant**: Twilio inbound + Deepgram nova-2 + gpt-4o-mini + OpenAI tts-1;
//! - **realtime**: OpenAI gpt-4o-realtime (audio in and out, text tokens).
//!
//! Spend is kept in bounds the way a platform would: each user may spend $4.00 a day (a call is admitted
//! only if the user's spend plus the $0.90 estimate fits), council sessions have a $1.00 budget and are
//! ended when a track call answers `Cutoff`, and ElevenLabs has a monthly quota of 500 000 characters.
//! The summary shows admissions denied, calls cut off and alerts raised.
//!
//! Exits with status 1 if any call or event is missing from the database, or if any amount differs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use callmeter::chrono::{Datelike, Duration as Days, NaiveDate, Utc, Weekday};
use callmeter::pricing::{Destinations, Route, Usage};
use callmeter::{
    Budget, CallCostTracker, CallInfo, CallStatus, CallSummary, Catalog, Category, Clock, Limits,
    Meter, Outcome, Quota, Reserve, TokenUsage, Usd, Verdict,
};

thread_local! {
    /// The simulated time of the call this thread is simulating, in milliseconds since the epoch.
    static SIM_NOW: Cell<i64> = const { Cell::new(0) };
}

/// The meter's clock: each simulating thread's own timeline.
struct SimClock;

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        SIM_NOW.with(Cell::get)
    }
}

fn set_now(ms: i64) {
    SIM_NOW.with(|n| n.set(ms));
}

/// Why a council call ended early.
const CUT_OFF: &str = "cut off: budget reached";

/// splitmix64: a small, well-known generator; enough for a reproducible simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// True with probability `p` percent.
    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
    /// Roughly normal around `mean` with spread `sd` (sum of uniforms), never below `min`.
    fn around(&mut self, mean: f64, sd: f64, min: f64) -> f64 {
        let u: f64 = (0..6)
            .map(|_| (self.next() % 10_000) as f64 / 10_000.0)
            .sum::<f64>()
            - 3.0;
        (mean + u * sd / 0.707).max(min)
    }
}

struct Args {
    calls: u64,
    days: u64,
    start: NaiveDate,
    append: bool,
    db: PathBuf,
    seed: u64,
    threads: u64,
    /// The fleet database to ship to, and this server's name there.
    postgres: Option<String>,
    server: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        calls: 1_000,
        days: 30,
        start: NaiveDate::MIN,
        append: false,
        db: PathBuf::from(callmeter::MeterBuilder::DEFAULT_DB_PATH),
        seed: 42,
        threads: 4,
        postgres: None,
        server: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--calls" => args.calls = value()?.parse().map_err(|e| format!("--calls: {e}"))?,
            "--days" => {
                args.days = value()?.parse().map_err(|e| format!("--days: {e}"))?;
                args.days = args.days.max(1);
            }
            "--start" => {
                args.start = value()?
                    .parse()
                    .map_err(|e| format!("--start (YYYY-MM-DD): {e}"))?;
            }
            "--append" => args.append = true,
            "--db" => args.db = PathBuf::from(value()?),
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?;
                args.threads = args.threads.max(1);
            }
            "--postgres" if cfg!(feature = "postgres") => args.postgres = Some(value()?),
            "--postgres" => {
                return Err(
                    "--postgres needs the `postgres` feature: cargo run --release \
                            --features postgres --example simulate_calls -- --postgres URL"
                        .into(),
                );
            }
            "--server" => args.server = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: simulate_calls [--calls N] [--days D] [--start YYYY-MM-DD] [--db PATH] \
                            [--append] [--seed S] [--threads T] [--postgres URL [--server NAME]]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.start == NaiveDate::MIN {
        let days = i64::try_from(args.days).map_err(|e| format!("--days: {e}"))?;
        // The last `days` days, today included: the window `callmeter report` shows by default.
        args.start = Utc::now().date_naive() - Days::days(days - 1);
    }
    Ok(args)
}

/// Relative call volume per hour of the day (UTC): quiet at night, a peak in working hours.
const HOURLY: [u64; 24] = [
    1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 6, 4, 3, 2, 1,
];

/// One simulated call, decided before any runs: who, when, and the generator its conversation uses.
struct Planned {
    n: u64,
    start_ms: i64,
    user: u64,
    tenant: u64,
    rng: Rng,
}

/// Every call of the run, in a reproducible order: each from its own generator, seeded by the run's
/// seed and the call's number.
fn plan(args: &Args) -> Vec<Planned> {
    let first_ms = args
        .start
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis());
    // Weekend days get half the calls of a weekday.
    let day_weights: Vec<u64> = (0..args.days)
        .map(|d| {
            let day = args.start + Days::days(d as i64);
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                1
            } else {
                2
            }
        })
        .collect();
    let pick = |rng: &mut Rng, weights: &[u64]| -> u64 {
        let mut x = rng.range(0, weights.iter().sum::<u64>() - 1);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i as u64;
            }
            x -= w;
        }
        0
    };
    (0..args.calls)
        .map(|n| {
            let mut rng = Rng(args.seed ^ (n.wrapping_mul(0x2545_F491_4F6C_DD1D)));
            let day = pick(&mut rng, &day_weights);
            let hour = pick(&mut rng, &HOURLY);
            let ms_in_hour = rng.range(0, 3_599_999);
            let start_ms = first_ms + ((day * 24 + hour) * 3_600_000 + ms_in_hour) as i64;
            // A few heavy users and a long tail: user 1 makes about a sixth of the calls.
            let u = rng.range(0, 999_999) as f64 / 1_000_000.0;
            let user = 1 + (200.0 * u * u * u) as u64;
            Planned {
                n,
                start_ms,
                user,
                tenant: user % 12 + 1,
                rng,
            }
        })
        .collect()
}

const SCENARIOS: [&str; 4] = ["phone", "council", "assistant", "realtime"];

/// Where the phone pipeline's calls go, in percent of its calls: mostly the United States, about one
/// in nine abroad.
const DIALLED: [(u64, &str); 9] = [
    (83, "+1 415 555 0100"),
    (2, "+1 907 555 0100"),
    (2, "+1 808 555 0100"),
    (2, "+1 800 555 0100"),
    (3, "+44 20 7946 0000"),
    (3, "+44 7700 900123"),
    (2, "+52 55 5555 0100"),
    (2, "+91 22 5555 0100"),
    (1, "+63 2 5555 0100"),
];

/// The phone pipeline's Twilio prices by destination: Twilio's own answer for the United States
/// (its Pricing API's test body, vendored in `tests/fixtures`), and for calls abroad example rates of
/// this simulation's, not Twilio's (import real ones with `Destinations::from_twilio_file`).
fn destinations() -> Result<Destinations, Box<dyn std::error::Error>> {
    let us: callmeter::pricing::TwilioVoiceCountry = serde_json::from_str(include_str!(
        "../tests/fixtures/sdk_twilio_voice_country_us.json"
    ))?;
    let (table, _) = Destinations::from_twilio("voice", &[us])?;
    let rate = |s: &str| s.parse::<Usd>();
    Ok(table
        .outbound("United Kingdom", ["44"], rate("0.02")?)
        .outbound("United Kingdom - Mobile", ["447"], rate("0.04")?)
        .outbound("Mexico", ["52"], rate("0.03")?)
        .outbound("India", ["91"], rate("0.05")?)
        .outbound("Philippines", ["63"], rate("0.20")?)
        .with_source(
            "Twilio's US Pricing API test body; the simulation's example rates abroad",
            None,
        ))
}

/// One call's conversation: turns of (user speech seconds, assistant speech characters).
/// The simulated clock moves to the end of each turn before the turn's usage is tracked.
/// The most a model reply may use: what a request reserves for its output.
const MAX_REPLY: u64 = 500;
/// Why a call ends when a reservation is refused (a user's limit, or the call's budget).
const REFUSED: &str = "reservation refused";

/// One provider request, the way the pipeline makes it: reserve the estimate, make the request,
/// settle with what it used. A request that `fails` leaves its reservation unsettled: it is recorded
/// at its estimate, as the provider bills it. False when the reservation is refused (the request is
/// not made).
fn request(
    call: &CallCostTracker,
    (provider, model): (&str, &str),
    estimate: Usage,
    actual: Usage,
    fails: bool,
) -> Result<bool, callmeter::Error> {
    match call.reserve(provider, model, estimate)? {
        Reserve::Reserved(reservation) => {
            if fails {
                drop(reservation);
            } else {
                reservation.settle(actual)?;
            }
            Ok(true)
        }
        Reserve::Refused(_) => Ok(false),
    }
}

/// One reply of the agent: the model's request, then the speech of its answer, each reserved and
/// settled (one request in 30 fails). False when a reservation is refused.
fn answer(
    rng: &mut Rng,
    call: &CallCostTracker,
    llm: (&str, &str),
    tts: (&str, &str),
    (prompt, reply, chars): (u64, u64, u64),
) -> Result<bool, callmeter::Error> {
    Ok(request(
        call,
        llm,
        Usage::Tokens(TokenUsage::new(prompt, MAX_REPLY)),
        Usage::Tokens(TokenUsage::new(prompt, reply)),
        rng.percent(3),
    )? && request(
        call,
        tts,
        Usage::Characters(chars + chars / 5),
        Usage::Characters(chars),
        rng.percent(3),
    )?)
}

fn converse(
    rng: &mut Rng,
    call: &CallCostTracker,
    scenario: &str,
    start_ms: i64,
) -> Result<Outcome, callmeter::Error> {
    let seconds = rng.around(300.0, 75.0, 20.0);
    let turns = ((seconds / 60.0).round() as u64).max(1);
    let per_turn = seconds / turns as f64;
    let fail_at = rng.percent(5).then(|| rng.range(0, turns - 1));
    let fallback = rng.percent(5);
    let agents = [8, 6, 14][rng.range(0, 2) as usize];
    let mut dial = rng.range(0, 99);
    let number = DIALLED
        .iter()
        .find(|(share, _)| {
            let here = dial < *share;
            dial = dial.saturating_sub(*share);
            here
        })
        .map_or(DIALLED[0].1, |(_, n)| *n);
    let council: Vec<CallCostTracker> = (0..agents)
        .map(|i| call.agent(&format!("agent-{}", i + 1)))
        .chain([call.agent("synthesis")])
        .collect::<Result<_, _>>()?;
    for turn in 0..turns {
        set_now(start_ms + ((turn + 1) as f64 * per_turn * 1000.0) as i64);
        let listen = per_turn * rng.around(0.45, 0.1, 0.05);
        let chars = (400.0 * per_turn / 60.0 * rng.around(1.0, 0.2, 0.1)) as u64;
        let prompt = rng.range(8_500, 10_500);
        let reply = rng.range(150, 450);
        match scenario {
            "phone" => {
                call.track_stt("deepgram", "nova-2", listen)?;
                let (provider, model) = if fallback {
                    ("openai", "gpt-4-turbo")
                } else {
                    ("cerebras", "llama3.1-8b")
                };
                let made = answer(
                    rng,
                    call,
                    (provider, model),
                    ("elevenlabs", "eleven_turbo_v2_5"),
                    (prompt, reply, chars),
                )?;
                if !made {
                    return Ok(Outcome::failed(REFUSED));
                }
                call.track_leg("twilio", "voice", Route::To(number), per_turn)?;
            }
            "council" => {
                call.track_stt("deepgram", "nova-3", listen)?;
                for agent in &council {
                    let tokens = TokenUsage::new(rng.range(1_500, 3_000), rng.range(100, 400));
                    agent.track_inference("anthropic", "claude-sonnet-4-20250514", tokens)?;
                }
                call.track_tts("cartesia", "sonic-3", chars)?;
                call.track_participants("livekit", "cloud", 2, per_turn)?;
            }
            "assistant" => {
                call.track_stt("deepgram", "nova-2", listen)?;
                let made = answer(
                    rng,
                    call,
                    ("openai", "gpt-4o-mini"),
                    ("openai", "tts-1"),
                    (prompt, reply, chars),
                )?;
                if !made {
                    return Ok(Outcome::failed(REFUSED));
                }
                call.track_duration("twilio", "inbound-us", per_turn)?;
            }
            _ => {
                let speak = per_turn * rng.around(0.4, 0.1, 0.05);
                call.track_realtime_audio("openai", "gpt-4o-realtime", listen, speak)?;
                call.track_inference(
                    "openai",
                    "gpt-4o-realtime",
                    TokenUsage::new(rng.range(300, 1_500), rng.range(50, 300)),
                )?;
            }
        }
        if fail_at == Some(turn) {
            return Ok(Outcome::failed("connection dropped mid-call"));
        }
        if call.verdict() == Verdict::Cutoff {
            return Ok(Outcome::failed(CUT_OFF));
        }
    }
    if scenario == "phone" {
        call.track_payment("stripe", "card-not-present", "4.99".parse::<Usd>()?)?;
    }
    Ok(Outcome::Completed)
}

fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    #[allow(unused_mut)]
    let mut builder = Meter::builder()
        .path(&args.db)
        .catalog(
            Catalog::builtin()
                .into_builder()
                .destinations(destinations()?)
                .build()?,
        )
        .queue_capacity(1 << 20)
        .user_limits(Limits::none().daily_cost("4.00".parse()?))
        .quota(Quota::monthly("elevenlabs").units(500_000));
    #[cfg(feature = "postgres")]
    if let Some(url) = &args.postgres {
        builder = builder.postgres(url);
        if let Some(server) = &args.server {
            builder = builder.server(server);
        }
    }
    if !args.append {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = args.db.clone().into_os_string();
            path.push(suffix);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        // The folder of the file's meters' lock files (empty once they closed).
        let mut meters = args.db.clone().into_os_string();
        meters.push("-meters");
        let _ = std::fs::remove_dir_all(&meters);
    }
    let planned = plan(args);
    let window = (
        planned.iter().map(|p| p.start_ms).min().unwrap_or(0),
        planned.iter().map(|p| p.start_ms).max().unwrap_or(0) + 86_400_000,
    );
    // The meter opens at the simulation's start: limits load the spend of that day and month.
    set_now(window.0);
    let (meter, guard) = builder.clock(SimClock).open()?;
    // Call ids repeat from run to run with the same seed, so an appended run gets ids of its own.
    let run_id = if args.append {
        format!("sim-{}-{}", args.seed, Utc::now().timestamp_millis())
    } else {
        format!("sim-{}", args.seed)
    };
    // A tenant's calls go to one thread, in time order: its users' daily limits see them in the
    // same order whatever the number of threads.
    let mut shares: Vec<Vec<Planned>> = (0..args.threads).map(|_| Vec::new()).collect();
    for p in planned {
        shares[(p.tenant % args.threads) as usize].push(p);
    }
    let started = Instant::now();
    let workers: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            share.sort_by_key(|p| (p.start_ms, p.n));
            let meter: Meter = meter.clone();
            let run_id = run_id.clone();
            std::thread::spawn(
                move || -> Result<(Vec<(String, CallSummary)>, u64), callmeter::Error> {
                    let mut out = Vec::new();
                    let mut denied = 0;
                    for Planned {
                        n,
                        start_ms,
                        user,
                        tenant,
                        mut rng,
                    } in share
                    {
                        set_now(start_ms);
                        let scenario = SCENARIOS[(rng.next() % 4) as usize];
                        let mut info = CallInfo::new(format!("{run_id}-{n}"))
                            // Users and tenants of this run: a new run is a new set of customers.
                            .user(format!("{run_id}-user-{user}"))
                            .tenant(format!("{run_id}-tenant-{tenant}"))
                            .persona(["coach", "friend", "tutor"][rng.range(0, 2) as usize])
                            .session_kind(scenario);
                        if scenario == "council" {
                            info = info
                                .budget(Budget::default().max_cost(Usd::from_nanos(1_000_000_000)));
                        }
                        if !meter.admit(&info).allowed {
                            denied += 1;
                            continue;
                        }
                        let call = meter.start_call(info)?;
                        let outcome = converse(&mut rng, &call, scenario, start_ms)?;
                        out.push((scenario.to_owned(), call.finalize(outcome)?));
                    }
                    Ok((out, denied))
                },
            )
        })
        .collect();
    let mut summaries = Vec::new();
    let mut denied = 0;
    for w in workers {
        let (done, refused) = w.join().map_err(|_| "a simulation thread panicked")??;
        summaries.extend(done);
        denied += refused;
    }
    let started_calls = summaries.len() as u64;
    let cut_off = summaries
        .iter()
        .filter(|(_, s)| s.failure_reason.as_deref() == Some(CUT_OFF))
        .count();
    let tracked = started.elapsed();
    #[cfg(feature = "postgres")]
    let shipping = match &args.postgres {
        Some(_) => Some(fleet::wait_shipped(&meter)?),
        None => None,
    };
    drop(meter);
    let stats = guard.shutdown()?;
    let wall = started.elapsed();

    // Read back what the database holds for this run.
    let conn = rusqlite::Connection::open(&args.db)?;
    let like = format!("{run_id}-%");
    let (db_calls, db_total): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(total_cost_nanos), 0) FROM calls WHERE call_id LIKE ?1",
        [&like],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (db_events, db_event_sum): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM cost_events WHERE call_id LIKE ?1",
        [&like],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;

    let mut total = 0_i64;
    let mut events = 0_u64;
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_scenario: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
    let mut by_category: BTreeMap<Category, i64> = BTreeMap::new();
    for (scenario, s) in &summaries {
        let nanos = s.total.to_nanos()?;
        total += nanos;
        events += s.events;
        *by_status
            .entry(match s.status {
                CallStatus::Completed => "completed",
                CallStatus::Failed => "failed",
                _ => "other",
            })
            .or_default() += 1;
        let e = by_scenario
            .entry(
                SCENARIOS
                    .iter()
                    .find(|x| **x == scenario)
                    .copied()
                    .unwrap_or("?"),
            )
            .or_default();
        e.0 += 1;
        e.1 += nanos;
        for (c, v) in &s.by_category {
            *by_category.entry(*c).or_default() += v.to_nanos()?;
        }
    }

    let usd = Usd::from_nanos;
    println!(
        "callmeter simulate_calls: {} calls over {} days from {}, seed {}, {} threads, database {}",
        args.calls,
        args.days,
        args.start,
        args.seed,
        args.threads,
        args.db.display()
    );
    println!();
    println!("calls by status");
    for (status, n) in &by_status {
        println!("  {status:<10} {n:>8}");
    }
    println!();
    println!("cost per call by scenario");
    for (scenario, (n, nanos)) in &by_scenario {
        let per_call = if *n > 0 { *nanos / *n as i64 } else { 0 };
        println!(
            "  {scenario:<10} {n:>6} calls   total {:>14}   per call {:>12}",
            usd(*nanos).to_string(),
            usd(per_call).to_string()
        );
    }
    println!();
    println!("cost by category");
    for (c, nanos) in &by_category {
        let share = if total > 0 {
            *nanos as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        println!(
            "  {:<10} {:>14}   {share:5.1} %",
            c.as_str(),
            usd(*nanos).to_string()
        );
    }
    println!("  {:<10} {:>14}", "total", usd(total).to_string());
    println!();
    println!("events");
    println!("  tracked    {events:>10}");
    println!("  enqueued   {:>10}", stats.enqueued);
    println!("  persisted  {:>10}", stats.persisted);
    println!("  dropped    {:>10}", stats.dropped);
    println!("  unpriced   {:>10}", stats.unpriced);
    println!("  write errors {:>8}", stats.write_errors);
    println!();
    println!("budgets, limits and alerts");
    println!("  admissions denied {denied:>6}   (a user's $4.00 a day, $0.90 estimated per call)");
    println!("  calls cut off     {cut_off:>6}   (council sessions, $1.00 budget)");
    println!("  alerts raised     {:>6}", stats.alerts_raised);
    let mut kinds = conn.prepare(
        "SELECT kind, COUNT(*) FROM alerts WHERE raised_at >= ?1 AND raised_at < ?2
         GROUP BY kind ORDER BY kind",
    )?;
    let rows = kinds.query_map([window.0, window.1], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (kind, n) = row?;
        println!("    {kind:<16} {n:>6}");
    }
    println!(
        "  reservations      {:>6}   made before each LLM and TTS request, settled after",
        stats.reservations
    );
    println!("    refused         {:>6}", stats.reservations_refused);
    println!("    settled         {:>6}", stats.reservations_settled);
    println!(
        "    abandoned       {:>6}   (failed requests, recorded at their estimate)",
        stats.reservations_abandoned
    );
    println!("    released        {:>6}", stats.reservations_released);
    println!("    held at the end {:>6}", stats.held.to_string());
    println!();
    println!("time");
    println!(
        "  tracking   {:>10.3} s  ({:.0} track calls/s over {} threads)",
        tracked.as_secs_f64(),
        events as f64 / tracked.as_secs_f64(),
        args.threads
    );
    println!(
        "  wall       {:>10.3} s  ({:.0} events/s persisted, shutdown drain included)",
        wall.as_secs_f64(),
        stats.persisted as f64 / wall.as_secs_f64()
    );
    println!();

    let mut ok = true;
    let mut check = |what: &str, good: bool| {
        println!("  [{}] {what}", if good { "ok" } else { "LOST" });
        ok &= good;
    };
    println!("checks");
    check(
        &format!("calls in database = calls started ({db_calls})"),
        db_calls as u64 == started_calls,
    );
    check(
        &format!(
            "calls started + admissions denied = calls simulated ({})",
            args.calls
        ),
        started_calls + denied == args.calls,
    );
    check(
        &format!("events in database = events tracked ({db_events})"),
        db_events as u64 == events,
    );
    check(
        &format!(
            "reservations made = settled + abandoned + released ({})",
            stats.reservations
        ),
        stats.reservations
            == stats.reservations_settled
                + stats.reservations_abandoned
                + stats.reservations_released,
    );
    check("nothing held at the end", stats.held == Usd::ZERO);
    check(
        "no event dropped or pending",
        stats.dropped == 0 && stats.pending == 0,
    );
    check(
        &format!("database call totals = summaries ({})", usd(db_total)),
        db_total == total,
    );
    check(
        &format!("database event sum = summaries ({})", usd(db_event_sum)),
        db_event_sum == total,
    );
    #[cfg(feature = "postgres")]
    if let (Some(url), Some(took)) = (&args.postgres, shipping) {
        let fleet = fleet::totals(url, &like)?;
        println!(
            "  shipped {} events to PostgreSQL in {:.3} s after tracking ended ({} ship errors)",
            stats.shipped,
            took.as_secs_f64(),
            stats.ship_errors
        );
        check(
            &format!("PostgreSQL calls = local calls ({})", fleet.calls),
            fleet.calls == db_calls,
        );
        check(
            &format!("PostgreSQL events = local events ({})", fleet.events),
            fleet.events == db_events,
        );
        check(
            &format!(
                "PostgreSQL call totals = local totals ({})",
                usd(fleet.total)
            ),
            fleet.total == db_total,
        );
        check(
            &format!(
                "PostgreSQL event sum = local event sum ({})",
                usd(fleet.event_sum)
            ),
            fleet.event_sum == db_event_sum,
        );
    }
    Ok(ok)
}

/// The fleet side of the checks (`--postgres`).
#[cfg(feature = "postgres")]
mod fleet {
    use std::time::{Duration, Instant};

    /// What the fleet database holds for the run.
    pub(crate) struct Totals {
        pub(crate) calls: i64,
        pub(crate) total: i64,
        pub(crate) events: i64,
        pub(crate) event_sum: i64,
    }

    /// Waits until everything committed is shipped (at most two minutes); answers how long it took.
    pub(crate) fn wait_shipped(
        meter: &callmeter::Meter,
    ) -> Result<Duration, Box<dyn std::error::Error>> {
        meter.flush()?;
        let start = Instant::now();
        loop {
            let s = meter.stats();
            if s.ship_backlog == 0 && s.shipped + s.ship_duplicates >= s.persisted {
                return Ok(start.elapsed());
            }
            if start.elapsed() > Duration::from_secs(120) {
                return Err(format!(
                    "{} events still unshipped after two minutes (last error: {:?})",
                    s.ship_backlog, s.last_ship_error
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn totals(url: &str, like: &str) -> Result<Totals, Box<dyn std::error::Error>> {
        let mut c = postgres::Client::connect(url, postgres::NoTls)?;
        let calls = c.query_one(
            "SELECT COUNT(*), COALESCE(SUM(total_cost_nanos), 0)::bigint FROM calls
             WHERE call_id LIKE $1",
            &[&like],
        )?;
        let events = c.query_one(
            "SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0)::bigint FROM cost_events
             WHERE call_id LIKE $1",
            &[&like],
        )?;
        Ok(Totals {
            calls: calls.get(0),
            total: calls.get(1),
            events: events.get(0),
            event_sum: events.get(1),
        })
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("simulate_calls: {e}");
            std::process::exit(1);
        }
    }
}
