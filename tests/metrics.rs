//! The writer records the meter's counters and the cost by category and provider through the
//! `metrics` facade (feature `metrics`).

#[cfg(not(feature = "metrics"))]
#[test]
fn metrics_need_the_metrics_feature() {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "!!! NOT RUN: tests/metrics.rs needs `cargo test --features metrics --test metrics`"
    );
}

#[cfg(feature = "metrics")]
mod with_feature {
    use std::collections::BTreeMap;

    use callmeter::{CallInfo, Meter, Outcome, TokenUsage, Usd};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn the_writer_records_counters_and_cost_by_category_and_provider()
    -> Result<(), Box<dyn std::error::Error>> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install()?;
        let dir = tempfile::tempdir()?;
        let (meter, guard) = Meter::builder().path(dir.path().join("m.db")).open()?;
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        for i in 0..3 {
            let call = meter.start_call(CallInfo::new(format!("c{i}")))?;
            call.track_stt("deepgram", "nova-2", 10.0 + f64::from(i))?;
            call.track_inference("openai", "gpt-4o-mini", TokenUsage::new(1_000, 100))?;
            call.track_duration("twilio", "outbound-us", 61.0)?;
            let summary = call.finalize(Outcome::Completed)?;
            let providers = [
                ("stt", "deepgram"),
                ("llm", "openai"),
                ("telephony", "twilio"),
            ];
            for (category, cost) in &summary.by_category {
                let provider = providers
                    .iter()
                    .find(|(c, _)| *c == category.as_str())
                    .map(|(_, p)| *p)
                    .expect("one provider per category");
                *expected
                    .entry((category.as_str().to_owned(), provider.to_owned()))
                    .or_default() += cost.to_nanos()?;
            }
        }
        meter.flush()?;
        let stats = meter.stats();
        let mut counters: BTreeMap<String, u64> = BTreeMap::new();
        let mut cost: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            if let DebugValue::Counter(v) = value {
                if key.name() == "callmeter_cost_nanos_total" {
                    let label = |n: &str| {
                        key.labels()
                            .find(|l| l.key() == n)
                            .map(|l| l.value().to_owned())
                            .unwrap_or_default()
                    };
                    cost.insert((label("category"), label("provider")), i64::try_from(v)?);
                } else {
                    counters.insert(key.name().to_owned(), v);
                }
            }
        }
        assert_eq!(
            counters["callmeter_events_persisted_total"],
            stats.persisted
        );
        assert_eq!(counters["callmeter_events_persisted_total"], 9);
        assert_eq!(counters["callmeter_events_enqueued_total"], 9);
        assert_eq!(counters["callmeter_calls_finalized_total"], 3);
        assert_eq!(counters["callmeter_events_dropped_total"], 0);
        assert_eq!(counters["callmeter_write_errors_total"], 0);
        assert_eq!(cost, expected);
        let total: i64 = cost.values().sum();
        assert!(Usd::from_nanos(total) > Usd::ZERO);
        drop(meter);
        guard.shutdown()?;
        Ok(())
    }
}
