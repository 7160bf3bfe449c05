//! A database on a small file system that fills up: the writer keeps its write-ahead log bounded,
//! survives "disk full" (counted, retried, the log truncated to free space) and catches up by itself
//! once space returns, losing nothing. Needs a tmpfs of its own, so root: `.ci/run` runs it as root;
//! elsewhere it says loudly that it did not run.

#![allow(
    clippy::print_stdout,
    reason = "the test reports the log size it measured"
)]

mod common;

use std::io::Write;
use std::time::Duration;

use callmeter::{CallInfo, Error, Meter, Outcome, TokenUsage};
use common::fs::SmallFs;
use common::{TestResult, call_total, events_sum, scalar_i64};

/// Room for the data of the events below several times over, but not for a write-ahead log that grows
/// unchecked (at the former 64 MiB checkpoint setting it filled this disk by itself).
const DISK: u64 = 32 << 20;

/// Fills the file system with one file until it is full; answers the file's path.
fn fill(dir: &std::path::Path, n: usize) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join(format!("filler-{n}"));
    let mut file = std::fs::File::create(&path)?;
    let chunk = vec![0_u8; 16 << 10];
    loop {
        match file.write_all(&chunk).and_then(|()| file.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => return Err(e),
        }
    }
    // The last bytes too: the disk is full to the byte.
    for _ in 0..4096 {
        if file.write_all(&[0_u8; 64]).is_err() {
            break;
        }
    }
    Ok(path)
}

/// Tracks `calls` calls of `events` events each; with `commit_every`, waits for a commit after that many
/// events (many small transactions, as a lightly loaded server makes: each rewrites the pages it
/// touches into the write-ahead log, which is what grows it).
fn track(
    meter: &Meter,
    prefix: &str,
    calls: usize,
    events: usize,
    commit_every: Option<usize>,
) -> callmeter::Result<Vec<(String, i64)>> {
    let mut totals = Vec::new();
    for c in 0..calls {
        let id = format!("{prefix}-{c}");
        let call = meter.start_call(CallInfo::new(id.as_str()).user("u"))?;
        for i in 0..events {
            call.track_inference(
                "openai",
                "gpt-4o-mini",
                TokenUsage::new(1_000 + i as u64, 200),
            )?;
            if commit_every.is_some_and(|n| i % n == n - 1) {
                meter.flush()?;
            }
        }
        totals.push((id, call.finalize(Outcome::Completed)?.total.to_nanos()?));
    }
    Ok(totals)
}

#[test]
fn a_full_disk_is_survived_and_nothing_is_lost_once_space_returns() -> TestResult {
    let Some(fs) = SmallFs::mount("small_disk: a full disk is survived", DISK) else {
        return Ok(());
    };
    let path = fs.path().join("costs.db");
    let (meter, guard) = Meter::builder()
        .path(&path)
        .flush_timeout(Duration::from_secs(2))
        .open()?;
    let mut expected = track(&meter, "before", 40, 1_000, Some(25))?;
    meter.flush()?;
    let wal = path.with_extension("db-wal");
    let wal_before = std::fs::metadata(&wal).map_or(0, |m| m.len());

    // Fill the disk and track. The writer's first answer to "disk full" is to truncate its log, which
    // may free enough room: then fill what it freed, until nothing can be written.
    let mut fillers = Vec::new();
    let mut stuck = false;
    for round in 0..5 {
        fillers.push(fill(fs.path(), round)?);
        expected.extend(track(&meter, &format!("during{round}"), 20, 200, None)?);
        if matches!(meter.flush(), Err(Error::Timeout(_))) {
            stuck = true;
            break;
        }
    }
    assert!(stuck, "the disk never filled up");
    let full = meter.stats();
    assert!(full.write_errors > 0);
    assert!(full.pending > 0);
    assert!(
        full.last_write_error
            .as_deref()
            .is_some_and(|e| e.contains("full")),
        "{:?}",
        full.last_write_error
    );

    for filler in &fillers {
        std::fs::remove_file(filler)?;
    }
    // Space is back: the writer catches up by itself (its backoff is at most a second).
    let mut flushed = meter.flush();
    for _ in 0..5 {
        if flushed.is_ok() {
            break;
        }
        flushed = meter.flush();
    }
    flushed?;
    let recovered = meter.stats();
    assert_eq!((recovered.pending, recovered.quarantined), (0, 0));
    assert_eq!(recovered.last_write_error, None);
    expected.extend(track(&meter, "after", 5, 100, None)?);
    let stats = guard.shutdown()?;
    assert_eq!(stats.pending, 0);
    assert_eq!(stats.persisted, stats.enqueued - stats.dropped);

    let conn = rusqlite::Connection::open(&path)?;
    for (id, total) in &expected {
        assert_eq!(call_total(&conn, id), *total, "call {id}");
        assert_eq!(events_sum(&conn, id), *total, "call {id}");
    }
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM calls WHERE status != 'completed'",
            []
        ),
        0
    );
    // The log stayed within its bound while the disk was healthy.
    assert!(
        wal_before <= 17 << 20,
        "write-ahead log of {wal_before} bytes"
    );
    println!(
        "small disk: WAL {wal_before} bytes after 40 000 events; {} write errors survived",
        full.write_errors
    );
    Ok(())
}
