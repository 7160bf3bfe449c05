//! A track call of a known model allocates nothing on the calling thread.
#![allow(unsafe_code)] // a counting global allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use callmeter::pricing::Usage;
use callmeter::{Budget, CallInfo, Meter, Reserve, TokenUsage};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is only bumped.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn track_calls_allocate_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (meter, guard) = Meter::builder().path(dir.path().join("a.db")).open()?;
    let call = meter.start_call(CallInfo::new("alloc").budget(Budget::unlimited()))?;
    let agent = call.agent("critic")?;
    let run = || -> Result<(), callmeter::Error> {
        for _ in 0..1_000 {
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412)?;
            call.track_stt("deepgram", "nova-2", 2.5)?;
            call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(9_200, 310))?;
            agent.track_inference(
                "anthropic",
                "claude-sonnet-4-20250514",
                TokenUsage::new(9, 3),
            )?;
            call.track_duration("twilio", "outbound-us", 1.0)?;
            call.track_realtime_audio("openai", "gpt-4o-realtime", 1.0, 2.0)?;
            call.track_participants("livekit", "cloud", 3, 1.0)?;
            // Reserve → settle, and a reservation dropped unsettled (recorded at its estimate).
            match call.reserve_tts("elevenlabs", "eleven_turbo_v2_5", 412)? {
                Reserve::Reserved(r) => {
                    r.settle(Usage::Characters(400))?;
                }
                Reserve::Refused(why) => panic!("refused without a limit: {why:?}"),
            }
            let dropped =
                agent.reserve_inference("cerebras", "llama3.1-8b", TokenUsage::new(90, 10))?;
            drop(dropped);
        }
        Ok(())
    };
    run()?; // warm up
    COUNTING.with(|c| c.set(true));
    let result = run();
    COUNTING.with(|c| c.set(false));
    result?;
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "heap allocations in 7 000 track calls and 2 000 reservations"
    );
    drop((call, agent));
    guard.shutdown()?;
    Ok(())
}
