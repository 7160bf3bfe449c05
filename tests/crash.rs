//! A process tracking calls is killed with SIGKILL at random moments, 20 rounds on one database. After
//! each kill: the file passes `PRAGMA integrity_check`, every call's stored total equals the sum of its
//! stored events, every call the child finalized and whose final record was written has the child's
//! exact total, and the next meter to open closes the dead process's calls as `interrupted`.
//!
//! The test binary is its own child: run with `CALLMETER_CRASH_CHILD=<database>` it tracks calls until
//! it is killed, printing each finalized call's id and total.

#![allow(
    clippy::print_stdout,
    reason = "the child reports its finalized calls on stdout; the parent reports each round"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use callmeter::{CallInfo, Meter, Outcome, TokenUsage};
use rusqlite::Connection;

const ROUNDS: u64 = 20;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> Result<()> {
    if let Some(db) = std::env::var_os("CALLMETER_CRASH_CHILD") {
        let round: u64 = std::env::var("CALLMETER_CRASH_ROUND")?.parse()?;
        return child(Path::new(&db), round);
    }
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("crash.db");
    let mut finalized: BTreeMap<String, i64> = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe()?)
            .env("CALLMETER_CRASH_CHILD", &db)
            .env("CALLMETER_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
                .collect::<Vec<String>>()
        });
        let after = Duration::from_millis(200 + rng.below(500));
        std::thread::sleep(after);
        child.kill()?; // SIGKILL
        child.wait()?;
        let lines = reader.join().map_err(|_| "reader thread")?;
        for line in lines {
            if let Some((id, total)) = line.split_once(' ') {
                // A call id used again adds to the stored total: keep the sum of its summaries.
                *finalized.entry(id.to_owned()).or_default() += total.parse::<i64>()?;
            }
        }
        let (active, interrupted) = check(&db, &finalized)?;
        println!(
            "crash round {round}: killed after {after:?}, {active} calls left active, all closed as interrupted ({interrupted})"
        );
    }
    println!("crash: {ROUNDS} passed, 0 failed");
    Ok(())
}

/// Checks the database after a kill, then opens a meter on it and checks that the dead process's calls
/// are closed.
fn check(db: &Path, finalized: &BTreeMap<String, i64>) -> Result<(i64, u64)> {
    let conn = Connection::open(db)?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(integrity, "ok");
    let mismatched: i64 = conn.query_row(
        "SELECT COUNT(*) FROM calls c WHERE total_cost_nanos !=
            (SELECT COALESCE(SUM(cost_nanos), 0) FROM cost_events e WHERE e.call_ref = c.call_ref)",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(mismatched, 0, "every call's total is the sum of its events");
    // A call whose every segment ended with a written final record has the child's exact total.
    let mut stmt = conn.prepare(
        "SELECT call_id, total_cost_nanos FROM calls WHERE status = 'completed' AND call_id LIKE 'c-%'",
    )?;
    let completed: Vec<(String, i64)> = stmt
        .query_map([], |r| r.try_into())?
        .collect::<rusqlite::Result<_>>()?;
    for (id, total) in &completed {
        if let Some(expected) = finalized.get(id) {
            assert_eq!(total, expected, "call {id}");
        }
    }
    let active: i64 = conn.query_row(
        "SELECT COUNT(*) FROM calls WHERE status = 'active'",
        [],
        |r| r.get(0),
    )?;
    let (meter, guard) = Meter::builder().path(db).open()?;
    let interrupted = meter.stats().calls_interrupted;
    assert_eq!(
        interrupted,
        u64::try_from(active)?,
        "the dead process's calls are closed"
    );
    guard.shutdown()?;
    let left: i64 = conn.query_row(
        "SELECT COUNT(*) FROM calls WHERE status = 'active'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(left, 0);
    Ok((active, interrupted))
}

/// Tracks calls until killed: several threads, some call ids used again from round to round (`s-…`),
/// each finalized call printed as `id total_nanos`.
fn child(db: &Path, round: u64) -> Result<()> {
    let (meter, _guard) = Meter::builder().path(db).open()?;
    let threads: Vec<_> = (0..3_u64)
        .map(|t| {
            let meter = meter.clone();
            std::thread::spawn(move || -> callmeter::Result<()> {
                let mut rng = Rng((round << 8 | t) * 0x9e37_79b9 + 1);
                for n in 0.. {
                    let id = if rng.below(4) == 0 {
                        format!("s-{t}-{}", rng.below(3))
                    } else {
                        format!("c-{round}-{t}-{n}")
                    };
                    let call = meter.start_call(CallInfo::new(id.as_str()).user("u"))?;
                    for _ in 0..rng.below(200) {
                        match rng.below(3) {
                            0 => call.track_tts(
                                "elevenlabs",
                                "eleven_turbo_v2_5",
                                1 + rng.below(300),
                            ),
                            1 => call.track_stt("deepgram", "nova-2", 0.5 + rng.below(20) as f64),
                            _ => call.track_inference(
                                "openai",
                                "gpt-4o-mini",
                                TokenUsage::new(rng.below(5_000), rng.below(500)),
                            ),
                        }?;
                    }
                    // Shared ids are always finalized (a forgotten one would still be open here).
                    if id.starts_with("s-") || rng.below(5) != 0 {
                        let total = call.finalize(Outcome::Completed)?.total.to_nanos()?;
                        println!("{id} {total}");
                    } else {
                        // Left open for a while: the kill may find it active.
                        std::thread::sleep(Duration::from_millis(rng.below(30)));
                        std::mem::forget(call);
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread")??;
    }
    Ok(())
}
