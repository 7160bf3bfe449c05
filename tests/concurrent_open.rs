//! Several processes open one new database file at the same moment, as agent processes started
//! together with the default path do: every open succeeds, the schema is created once, and every
//! process's call is stored with its exact total.
//!
//! The test binary is its own child: run with `CALLMETER_OPEN_CHILD=<database>` it waits for the file
//! named by `CALLMETER_OPEN_GO` to appear, opens a meter on the database, tracks one call and prints
//! its id and total (or the error) on stdout.

#![allow(
    clippy::print_stdout,
    reason = "the child reports its call on stdout; the parent reports each round"
)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use callmeter::{CallInfo, Meter, Outcome};
use rusqlite::Connection;

const ROUNDS: usize = 10;
const PROCESSES: usize = 6;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    if let Some(db) = std::env::var_os("CALLMETER_OPEN_CHILD") {
        let go = std::env::var_os("CALLMETER_OPEN_GO").ok_or("CALLMETER_OPEN_GO")?;
        return child(Path::new(&db), Path::new(&go));
    }
    let (mut passed, mut failed) = (0, 0);
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("new.db");
        let go = dir.path().join("go");
        let children = (0..PROCESSES)
            .map(|_| {
                Command::new(std::env::current_exe()?)
                    .env("CALLMETER_OPEN_CHILD", &db)
                    .env("CALLMETER_OPEN_GO", &go)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        // Every child is waiting for the same signal: they open together.
        std::fs::write(&go, b"")?;
        let outputs = children
            .into_iter()
            .map(std::process::Child::wait_with_output)
            .collect::<std::io::Result<Vec<Output>>>()?;
        let mut expected = Vec::new();
        for out in &outputs {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.trim().split_once(' ') {
                Some((id, total)) if out.status.success() => {
                    passed += 1;
                    expected.push((id.to_owned(), total.parse::<i64>()?));
                }
                _ => {
                    failed += 1;
                    println!(
                        "round {round}: an open failed ({}): {}{}",
                        out.status,
                        stdout.trim(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
            }
        }
        let conn = Connection::open(&db)?;
        for (id, total) in &expected {
            let stored: i64 = conn.query_row(
                "SELECT total_cost_nanos FROM calls WHERE call_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            assert_eq!(stored, *total, "round {round}: call {id}");
        }
        println!(
            "concurrent open round {round}: {} of {PROCESSES} processes opened one new file",
            expected.len()
        );
    }
    println!("concurrent_open: {passed} passed, {failed} failed");
    if failed > 0 {
        return Err(format!("{failed} of {} opens failed", ROUNDS * PROCESSES).into());
    }
    Ok(())
}

fn child(db: &Path, go: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        if Instant::now() > deadline {
            return Err("the signal to open never came".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let (meter, guard) = Meter::builder().path(db).open()?;
    let id = format!("open-{}", std::process::id());
    let call = meter.start_call(CallInfo::new(id.as_str()))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    let summary = call.finalize(Outcome::Completed)?;
    drop(call);
    drop(meter);
    guard.shutdown()?;
    println!("{id} {}", summary.total.to_nanos()?);
    Ok(())
}
