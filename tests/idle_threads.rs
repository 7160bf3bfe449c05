//! What an idle meter's alert thread does: nothing. It sleeps until an alert or a stop arrives
//! instead of waking on a timer (counted with Linux's per-thread context switch counters).

mod common;

use std::sync::{Arc, Mutex};

use callmeter::control::AlertThresholds;
use callmeter::{Alert, AlertKind, CallInfo, Decimal, Outcome, Usd};
use common::{Db, TestResult};

/// The voluntary context switches of this process's thread named `name` (as `comm` shows it, at most
/// 15 bytes), or `None` when there is no such thread.
#[cfg(target_os = "linux")]
fn switches(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse().ok());
    }
    None
}

#[cfg(target_os = "linux")]
#[test]
fn the_alert_thread_sleeps_until_an_alert_arrives() -> TestResult {
    let db = Db::new();
    let mut thresholds = AlertThresholds::default();
    thresholds.call = Usd::new(Decimal::new(1, 2));
    let alerts: Arc<Mutex<Vec<AlertKind>>> = Arc::default();
    let seen = Arc::clone(&alerts);
    let (meter, guard) = db
        .builder()
        .alert_sink(move |a: &Alert| seen.lock().expect("lock").push(a.kind))
        .alert_thresholds(thresholds)
        .open()?;
    let name = "callmeter-alert"; // "callmeter-alerts", cut to 15 bytes
    std::thread::sleep(std::time::Duration::from_millis(50));
    let before = switches(name).expect("the alert thread runs");
    // Idle for 300 ms: a thread looking at its queue every 5 ms would switch about 60 times.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let idle = switches(name).expect("the alert thread runs") - before;
    assert!(idle <= 2, "the idle alert thread woke {idle} times");
    // And an alert still arrives.
    let call = meter.start_call(CallInfo::new("dear"))?;
    call.track_tts("elevenlabs", "eleven_flash_v2_5", 10_000)?;
    call.finalize(Outcome::Completed)?;
    guard.shutdown()?;
    let kinds = alerts.lock().expect("lock").clone();
    assert!(
        kinds.contains(&AlertKind::CallCost),
        "the call cost alert was delivered: {kinds:?}"
    );
    Ok(())
}
