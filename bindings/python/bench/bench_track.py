"""Times a callmeter track call from Python beside a fire-and-forget Python logger.

The logger is built the way voice teams describe theirs: the calling thread puts a dict on a
``queue.Queue``; a background thread prices it with float rates and writes it to SQLite in WAL mode.
Both are timed in the same run, on the calling thread only (what the voice pipeline pays), with
``time.perf_counter_ns``; the figures are nearest-rank percentiles of each call's own time. The
timing loop's own cost (a call of a function that does nothing, timed the same way in the same run)
is printed beside them, and the "net" figures take its p50 off each percentile.

    python bench/bench_track.py [--calls N] [--check]

``--check`` exits 1 unless callmeter's total is exact and its net p50 is at least 3 times the
logger's (a guard against regressions that a busy CI machine does not trip); whether the 5x target is
met is printed. The logger's float total is shown beside callmeter's exact one.
"""

from __future__ import annotations

import argparse
import os
import queue
import sqlite3
import sys
import tempfile
import threading
import time
from decimal import Decimal

import callmeter

#: The logger's rates, as floats (dollars per character of TTS, the model's built-in price).
TTS_RATE_PER_CHAR = 0.15 / 1000


class FireAndForgetLogger:
    """The Python logger: a queue, a thread, SQLite in WAL mode, float money."""

    def __init__(self, path: str):
        self.queue: "queue.Queue[dict | None]" = queue.Queue()
        self.path = path
        self.total = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def log_voice_event(self, call_id: str, provider: str, model: str, characters: int) -> None:
        self.queue.put_nowait(
            {
                "call_id": call_id,
                "provider": provider,
                "model": model,
                "characters": characters,
                "at": time.time(),
            }
        )

    def _run(self) -> None:
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS events (call_id TEXT, provider TEXT, model TEXT, "
            "characters INTEGER, cost REAL, at REAL)"
        )
        while True:
            batch = [self.queue.get()]
            while len(batch) < 512:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is None
            rows = []
            for e in batch:
                if e is None:
                    continue
                cost = e["characters"] * TTS_RATE_PER_CHAR
                self.total += cost
                rows.append((e["call_id"], e["provider"], e["model"], e["characters"], cost, e["at"]))
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.commit()
            if stop:
                db.close()
                return

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()


def percentile(sorted_ns: list[int], p: float) -> float:
    rank = max(1, round(p / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000  # µs


def time_calls(fn, calls: int) -> list[int]:
    times = []
    clock = time.perf_counter_ns
    for i in range(calls):
        start = clock()
        fn(i)
        times.append(clock() - start)
    times.sort()
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    dir_ = tempfile.mkdtemp()
    characters = 37  # a short sentence: the priced cost is $0.00555 each

    noop = lambda i: None  # noqa: E731
    time_calls(noop, 10_000)
    harness_ns = time_calls(noop, args.calls)
    harness = percentile(harness_ns, 50)

    logger = FireAndForgetLogger(os.path.join(dir_, "logger.db"))
    for i in range(10_000):  # warm up
        logger.log_voice_event("warm", "elevenlabs", "eleven_flash_v2_5", characters)
    log = lambda i: logger.log_voice_event("CA1", "elevenlabs", "eleven_flash_v2_5", characters)  # noqa: E731
    logger_ns = time_calls(log, args.calls)
    logger.close()

    with callmeter.Meter(
        os.path.join(dir_, "callmeter.db"), budget=Decimal("1000000"), queue_capacity=1 << 20
    ) as meter:
        warm = meter.start_call("warm")
        for i in range(10_000):
            warm.track_tts("elevenlabs", "eleven_flash_v2_5", characters)
        call = meter.start_call("CA1")
        track = lambda i: call.track_tts("elevenlabs", "eleven_flash_v2_5", characters)  # noqa: E731
        meter_ns = time_calls(track, args.calls)
        exact = call.total
        stats = meter.shutdown()

    expected = Decimal(args.calls) * Decimal(characters) * Decimal("0.15") / Decimal(1000)
    float_total = logger.total - 10_000 * characters * TTS_RATE_PER_CHAR
    print(f"{args.calls} calls on the calling thread, Python {sys.version.split()[0]}")
    print(f"{'':24} {'p50 µs':>8} {'p99 µs':>8} {'p99.9 µs':>9}   net of the loop: {'p50':>6} {'p99':>6} {'p99.9':>7}")
    for name, ns in (("callmeter track_tts", meter_ns), ("queue + thread logger", logger_ns), ("the timing loop", harness_ns)):
        raw = [percentile(ns, p) for p in (50, 99, 99.9)]
        net = [r - harness for r in raw]
        print(f"{name:24} {raw[0]:8.2f} {raw[1]:8.2f} {raw[2]:9.2f}   {'':16} {net[0]:6.2f} {net[1]:6.2f} {net[2]:7.2f}")
    raw_ratio = percentile(logger_ns, 50) / percentile(meter_ns, 50)
    ratio = (percentile(logger_ns, 50) - harness) / max(percentile(meter_ns, 50) - harness, 0.001)
    print(f"p50 ratio (logger / callmeter): {raw_ratio:.1f}x as timed, {ratio:.1f}x net of the loop")
    print(f"the 5x target at p50 (net of the loop): {'met' if ratio >= 5 else 'NOT MET'}")
    print(f"callmeter total: ${exact} (expected ${expected}); logger's float total: ${float_total!r}")
    print(f"callmeter events written: {stats['persisted']}, dropped: {stats['dropped']}")
    if args.check:
        if exact != expected:
            print("FAIL: callmeter's total is not exact")
            return 1
        if ratio < 3:
            print("FAIL: callmeter's net p50 is less than 3 times the logger's")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
