//! Alerts posted to a webhook (feature `webhook`): Slack's incoming webhooks, or any endpoint that
//! takes JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::base::backoff::Backoff;
use crate::base::error::{Error, Result};
use crate::control::alert::{Alert, AlertSink};

/// Posts every alert as JSON to a URL, from a thread of its own (`callmeter-webhook`).
///
/// The body is `{"text": <the alert's message>, "alert": <the alert>}`: Slack shows the text, other
/// endpoints read the alert's fields. Delivering only queues the alert (a bounded queue, 1 024 by
/// default), so the alert thread never waits for the network, and a track call never sees it at
/// all. The thread posts in order, each with a timeout (default 10 s), and retries a failed post
/// with backoff (0.25 s doubling, 7 attempts in all, about 30 s) before giving up on it. An alert
/// that finds the queue full is dropped and reported as a sink failure
/// ([`Stats::alert_sink_failures`](crate::Stats::alert_sink_failures)); every alert is in the
/// `alerts` table anyway.
///
/// Clones share the thread and the counts; the thread ends when the last clone is dropped and the
/// queue is empty.
///
/// ```no_run
/// use callmeter::{Meter, WebhookSink};
///
/// let slack = WebhookSink::new("https://hooks.slack.com/services/T000/B000/XXXX")?;
/// let (meter, guard) = Meter::builder().alert_sink(slack.clone()).open()?;
/// // … later: slack.delivered(), slack.given_up(), slack.dropped()
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone)]
pub struct WebhookSink {
    queue: Sender<Vec<u8>>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    given_up: AtomicU64,
    dropped: AtomicU64,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("delivered", &self.delivered())
            .field("given_up", &self.given_up())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// How a [`WebhookSink`] posts.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// Alerts waiting to be posted, at most (default 1 024).
    pub capacity: usize,
    /// The longest a post may take (default 10 s).
    pub timeout: Duration,
    /// Posts of one alert, the first included, before it is given up (default 7).
    pub attempts: u32,
    /// The wait after the first failed post, doubled after each (default 250 ms).
    pub backoff: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            capacity: 1_024,
            timeout: Duration::from_secs(10),
            attempts: 7,
            backoff: Duration::from_millis(250),
        }
    }
}

impl WebhookSink {
    /// Starts posting to `url` (`https://…` or `http://…`) with the default options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the URL is not HTTP(S), [`Error::Spawn`] when the thread cannot
    /// start.
    pub fn new(url: impl Into<String>) -> Result<WebhookSink> {
        WebhookSink::with_options(url, WebhookOptions::default())
    }

    /// Starts posting to `url` with `options`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_options(url: impl Into<String>, options: WebhookOptions) -> Result<WebhookSink> {
        let url = url.into();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::InvalidConfig {
                name: "webhook URL",
                reason: "must begin with https:// or http://".into(),
            });
        }
        let (queue, alerts) = bounded(options.capacity.max(1));
        let counts = Arc::new(Counts::default());
        let poster = Poster {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(options.timeout))
                .build()
                .into(),
            url,
            options,
            counts: Arc::clone(&counts),
        };
        std::thread::Builder::new()
            .name("callmeter-webhook".into())
            .spawn(move || poster.run(&alerts))
            .map_err(Error::Spawn)?;
        Ok(WebhookSink { queue, counts })
    }

    /// Alerts posted (the endpoint answered with a success status).
    pub fn delivered(&self) -> u64 {
        self.counts.delivered.load(Ordering::Relaxed)
    }

    /// Alerts given up after every attempt failed.
    pub fn given_up(&self) -> u64 {
        self.counts.given_up.load(Ordering::Relaxed)
    }

    /// Alerts dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }
}

impl AlertSink for WebhookSink {
    fn deliver(
        &self,
        alert: &Alert,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let body =
            serde_json::to_vec(&serde_json::json!({ "text": alert.message, "alert": alert }))?;
        match self.queue.try_send(body) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                Err("the webhook queue is full: alert dropped".into())
            }
            Err(TrySendError::Disconnected(_)) => Err("the webhook thread has stopped".into()),
        }
    }
}

/// The `callmeter-webhook` thread.
struct Poster {
    agent: ureq::Agent,
    url: String,
    options: WebhookOptions,
    counts: Arc<Counts>,
}

impl Poster {
    fn run(self, alerts: &Receiver<Vec<u8>>) {
        for body in alerts {
            let mut backoff = Backoff::new(self.options.backoff, Duration::MAX);
            let mut posted = false;
            for attempt in 1..=self.options.attempts.max(1) {
                if attempt > 1 {
                    std::thread::sleep(backoff.next_wait());
                }
                let sent = self
                    .agent
                    .post(&self.url)
                    .header("content-type", "application/json")
                    .send(&body[..]);
                if sent.is_ok() {
                    posted = true;
                    break;
                }
            }
            let count = if posted {
                &self.counts.delivered
            } else {
                &self.counts.given_up
            };
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}
