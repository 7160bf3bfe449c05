//! Memory per open call: opens 10 000 calls on one meter and reports the heap bytes they hold (counted
//! by a global allocator that tracks live bytes, on every thread: the tracker's state and the writer's
//! record of each call) and the growth of the resident set.
//!
//! ```text
//! cargo bench --bench memory
//! ```
#![allow(unsafe_code)] // a counting global allocator
#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use callmeter::{CallInfo, Meter, TokenUsage};

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is only updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: usize = 10_000;

/// Resident set size in bytes, from `/proc/self/statm` (0 where there is none).
fn rss() -> i64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo test --benches` lists benchmarks; there is one, run by `cargo bench`.
    }
    let dir = tempfile::tempdir()?;
    let (meter, guard) = Meter::builder().path(dir.path().join("memory.db")).open()?;
    // Warm up: the first call interns names and prepares statements.
    let warm = meter.start_call(CallInfo::new("warm-up").user("u").tenant("t"))?;
    warm.track_tts("elevenlabs", "eleven_turbo_v2_5", 10)?;
    meter.flush()?;
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss());
    let mut calls = Vec::with_capacity(CALLS);
    let vec_bytes = (CALLS * std::mem::size_of::<callmeter::CallCostTracker>()) as i64;
    for i in 0..CALLS {
        // A Twilio-shaped call id, a user and a tenant: what a production call carries.
        let call = meter.start_call(
            CallInfo::new(format!("CA{i:032x}"))
                .user(format!("user-{}", i % 1_000))
                .tenant("acme"),
        )?;
        // Each call uses the four stages once, as a real call does within its first seconds.
        call.track_duration("twilio", "outbound-us", 1.0)?;
        call.track_stt("deepgram", "nova-2", 1.0)?;
        call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(100, 10))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 40)?;
        calls.push(call);
    }
    meter.flush()?;
    let heap = LIVE.load(Ordering::Relaxed) - heap0 - vec_bytes;
    let grown = rss() - rss0;
    println!(
        "memory per open call ({CALLS} calls, each started and tracked once per stage): \
         {} bytes of heap, {} bytes of resident set",
        heap / CALLS as i64,
        grown / CALLS as i64
    );
    drop(calls);
    drop(warm);
    guard.shutdown()?;
    Ok(())
}
