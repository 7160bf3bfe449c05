//! Alerts posted to a webhook (feature `webhook`), against a local HTTP server: delivered as JSON
//! with a text field, delivered late when the server comes up after being down, given up when it
//! never does.

#[cfg(not(feature = "webhook"))]
#[test]
fn webhook_needs_the_webhook_feature() {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "!!! NOT RUN: tests/webhook.rs needs `cargo test --features webhook --test webhook`"
    );
}

#[cfg(feature = "webhook")]
mod with_feature {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::time::{Duration, Instant};

    use callmeter::{Budget, CallInfo, Meter, MeterGuard, Usd, WebhookOptions, WebhookSink};
    use crossbeam_channel::{Receiver, unbounded};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// Answers every POST with 200 and hands its body over.
    fn serve(listener: TcpListener) -> Receiver<String> {
        let (tx, rx) = unbounded();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
            }
        });
        rx
    }

    /// A meter whose calls are cut off at once, raising an alert, delivered to `sink`.
    fn meter(
        dir: &tempfile::TempDir,
        sink: &WebhookSink,
    ) -> callmeter::Result<(Meter, MeterGuard)> {
        Meter::builder()
            .path(dir.path().join("w.db"))
            .budget(Budget::default().max_cost(Usd::from_nanos(1_000)))
            .alert_sink(sink.clone())
            .open()
    }

    fn one_alert(meter: &Meter) -> callmeter::Result<()> {
        let call = meter.start_call(CallInfo::new("c1").user("u1"))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 500)?;
        call.finalize(callmeter::Outcome::Completed)?;
        Ok(())
    }

    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited 20 s for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn alerts_are_posted_as_json_with_a_text_field() -> TestResult {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let bodies = serve(listener);
        let sink = WebhookSink::new(url)?;
        let dir = tempfile::tempdir()?;
        let (meter, guard) = meter(&dir, &sink)?;
        one_alert(&meter)?;
        let body = bodies.recv_timeout(Duration::from_secs(20))?;
        let v: serde_json::Value = serde_json::from_str(&body)?;
        let text = v["text"].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "{body}");
        assert_eq!(v["alert"]["message"].as_str(), Some(text));
        assert_eq!(v["alert"]["call_id"], "c1");
        assert!(v["alert"]["kind"].as_str().is_some(), "{body}");
        wait_for("the delivery count", || sink.delivered() >= 1);
        drop(meter);
        guard.shutdown()?;
        assert_eq!((sink.given_up(), sink.dropped()), (0, 0));
        Ok(())
    }

    /// A free local port with nothing listening on it.
    fn closed_port() -> std::io::Result<SocketAddr> {
        TcpListener::bind("127.0.0.1:0")?.local_addr()
    }

    #[test]
    fn a_webhook_down_at_first_gets_the_alert_when_it_comes_up() -> TestResult {
        let addr = closed_port()?;
        let options = WebhookOptions {
            attempts: 20,
            backoff: Duration::from_millis(100),
            ..WebhookOptions::default()
        };
        let sink = WebhookSink::with_options(format!("http://{addr}/hook"), options)?;
        let dir = tempfile::tempdir()?;
        let (meter, guard) = meter(&dir, &sink)?;
        one_alert(&meter)?;
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(sink.delivered(), 0);
        let bodies = serve(TcpListener::bind(addr)?);
        let body = bodies.recv_timeout(Duration::from_secs(20))?;
        assert!(body.contains("\"call_id\":\"c1\""), "{body}");
        wait_for("the delivery count", || sink.delivered() >= 1);
        assert_eq!(sink.given_up(), 0);
        drop(meter);
        guard.shutdown()?;
        Ok(())
    }

    #[test]
    fn a_webhook_that_never_comes_up_is_given_up_without_holding_anything() -> TestResult {
        let addr = closed_port()?;
        let options = WebhookOptions {
            attempts: 2,
            backoff: Duration::from_millis(10),
            ..WebhookOptions::default()
        };
        let sink = WebhookSink::with_options(format!("http://{addr}/hook"), options)?;
        let dir = tempfile::tempdir()?;
        let (meter, guard) = meter(&dir, &sink)?;
        one_alert(&meter)?;
        wait_for("the alert given up", || sink.given_up() >= 1);
        assert_eq!(sink.delivered(), 0);
        drop(meter);
        let stats = guard.shutdown()?;
        // The alert is in the table all the same.
        assert!(stats.alerts_raised >= 1, "{stats:?}");
        Ok(())
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        assert!(matches!(
            WebhookSink::new("hooks.slack.com/services/x"),
            Err(callmeter::Error::InvalidConfig { .. })
        ));
    }
}
