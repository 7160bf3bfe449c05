//! The simulated month is reproducible: the same seed gives the same calls, events, rollups and
//! summary whatever the number of threads, and a second run writes a fresh database.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example's binary, beside this test's. `cargo test` builds it, but not when only this test
/// is asked for: it is built here too (nothing to do when it is up to date).
fn simulate_calls() -> PathBuf {
    let built = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args(["build", "--quiet", "--example", "simulate_calls"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building the simulate_calls example");
    let exe = std::env::current_exe().expect("the test's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile.join("examples").join("simulate_calls")
}

/// Runs it; answers its output without the lines that time it.
fn run(db: &Path, threads: u32) -> String {
    let out = Command::new(simulate_calls())
        .args([
            "--calls",
            "300",
            "--days",
            "10",
            "--start",
            "2026-10-01",
            "--seed",
            "9",
        ])
        .args(["--threads", &threads.to_string(), "--db"])
        .arg(db)
        .output()
        .expect("simulate_calls runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| !l.contains("threads") && !l.contains(" s  ("))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Everything the file holds of the run but the meters' random identities.
fn content(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut rows = Vec::new();
    for sql in [
        "SELECT call_id, user_id, tenant_id, status, started_at, ended_at, total_cost_nanos,
                event_count FROM calls ORDER BY call_id",
        "SELECT call_id, seq, created_at, category, provider, model, quantity, cost_nanos
         FROM cost_events ORDER BY call_id, seq",
        "SELECT scope, subject, period, category, provider, cost_nanos, events FROM rollups
         ORDER BY 1, 2, 3, 4, 5",
    ] {
        let mut stmt = conn.prepare(sql).expect(sql);
        let n = stmt.column_count();
        let mut q = stmt.query([]).expect(sql);
        while let Some(r) = q.next().expect(sql) {
            let row: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).expect("column")))
                .collect();
            rows.push(row.join("|"));
        }
    }
    rows
}

#[test]
fn the_same_seed_gives_the_same_month_whatever_the_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, four) = (dir.path().join("one.db"), dir.path().join("four.db"));
    let summary_one = run(&one, 1);
    let summary_four = run(&four, 4);
    assert_eq!(summary_one, summary_four);
    let (a, b) = (content(&one), content(&four));
    assert!(a.len() > 300, "{} rows", a.len());
    assert_eq!(a, b);
    // Spread over the days asked for, with calls lasting on the timeline.
    let conn = rusqlite::Connection::open(&one).expect("open");
    let (days, shortest): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(DISTINCT started_at / 86400000), MIN(ended_at - started_at) FROM calls",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("days");
    assert_eq!(days, 10);
    assert!(shortest > 0, "a call of {shortest} ms");
}

#[test]
fn a_second_run_writes_a_fresh_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("again.db");
    let first = run(&db, 2);
    let rows = content(&db).len();
    let second = run(&db, 2);
    assert_eq!(first, second);
    assert_eq!(content(&db).len(), rows);
}
