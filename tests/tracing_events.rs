//! With the `tracing` feature, the writer thread logs each priced event and each ended call.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use callmeter::{CallInfo, Outcome};
use common::{Db, TestResult};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn events_and_ended_calls_are_logged_from_the_writer_thread() -> TestResult {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_thread_names(true)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber)?;
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("logged"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 47)?;
    call.finalize(Outcome::Completed)?;
    drop(call);
    guard.shutdown()?;
    let text = String::from_utf8(captured.0.lock().expect("lock").clone())?;
    let event = text
        .lines()
        .find(|l| l.contains("tts 47 characters = $0.00705 (elevenlabs eleven_turbo_v2_5)"))
        .unwrap_or_else(|| panic!("no event line in {text}"));
    assert!(event.contains("callmeter-writer"), "{event}");
    assert!(event.contains("DEBUG"), "{event}");
    let ended = text
        .lines()
        .find(|l| l.contains("call logged completed: $0.00705"))
        .unwrap_or_else(|| panic!("no call line in {text}"));
    assert!(
        ended.contains("INFO") && ended.contains("callmeter-writer"),
        "{ended}"
    );
    Ok(())
}
