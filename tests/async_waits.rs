//! The async forms of the waiting calls do not block the executor's thread.

mod common;

use std::time::Duration;

use callmeter::{CallInfo, Outcome};
use common::{Db, TestResult, scalar_i64};

/// On a one-thread runtime, a flush waits for a write lock another task holds. If the flush
/// blocked the thread, that task could never release the lock and the flush would time out.
#[test]
fn a_flush_awaited_lets_the_other_tasks_of_its_thread_run() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.builder().flush_timeout(Duration::from_secs(8)).open()?;
    let lock = rusqlite::Connection::open(&db.path)?;
    lock.execute_batch("BEGIN EXCLUSIVE")?;
    let call = meter.start_call(CallInfo::new("c1"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
    call.finalize(Outcome::Completed)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let (flushed, ()) = runtime.block_on(async {
        tokio::join!(meter.flush_async(), async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(lock);
        })
    });
    flushed?;
    assert_eq!(meter.stats().persisted, 1);
    let stats = runtime.block_on(guard.shutdown_async())?;
    assert_eq!(stats.persisted, 1);
    assert_eq!(
        scalar_i64(&db.read(), "SELECT COUNT(*) FROM cost_events", []),
        1
    );
    Ok(())
}
