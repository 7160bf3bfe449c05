//! profiling scratch
#![allow(missing_docs)]
use callmeter::{CallInfo, Meter};
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (meter, guard) = Meter::builder()
        .path(dir.path().join("p.db"))
        .queue_capacity(20_000)
        .open()
        .unwrap();
    let call = meter.start_call(CallInfo::new("p")).unwrap();
    for _ in 0..2000 {
        for _ in 0..10_000 {
            let _ = std::hint::black_box(call.track_tts(
                std::hint::black_box("elevenlabs"),
                "eleven_turbo_v2_5",
                412,
            ));
        }
        meter.flush().unwrap();
    }
    drop(call);
    guard.shutdown().unwrap();
}
