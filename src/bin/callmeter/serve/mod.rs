//! `callmeter serve`: the dashboard, each call's page and a JSON API over HTTP, read-only, behind
//! the key in `CALLMETER_ADMIN_KEY`, made to face an open network.
//!
//! - [`listen`]: the accept loop (a connection cap fitted to the file limit, idle connections evicted
//!   first, header read timeout, header size limit, graceful shutdown on SIGINT/SIGTERM);
//! - [`app`]: the routes, their validated parameters, the security headers, errors by reference;
//! - [`auth`]: the key, session tokens, and the slowing of failed attempts per client address;
//! - [`lanes`]: the report queries, run on blocking threads with their own database connections.

mod app;
mod auth;
mod lanes;
mod listen;

use std::net::SocketAddr;
use std::time::Duration;

use chrono::NaiveDate;

use crate::Source;

/// The variable holding the key every request must carry.
pub(crate) const KEY_VARIABLE: &str = "CALLMETER_ADMIN_KEY";

/// Writes a line to the log (standard error). A log that cannot be written (its reader gone) is no
/// reason to stop serving: unlike `eprintln!`, this never panics.
pub(crate) fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The shortest admin key accepted.
const MIN_KEY_LEN: usize = 16;

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// Where to listen (loopback only by default).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8787")]
    pub(crate) listen: String,
    /// Mark the session cookie `Secure` (set it when the server is reached over HTTPS, as behind a
    /// TLS-terminating reverse proxy).
    #[arg(long)]
    pub(crate) secure_cookies: bool,
    /// The most connections held open at once (lowered to fit the process's file limit). At the cap a
    /// new connection closes the oldest idle one.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub(crate) max_connections: usize,
    /// A host name requests may carry in `Host` besides the loopback names (checked only when
    /// listening on a loopback address, against DNS rebinding); repeat for several.
    #[arg(long, value_name = "NAME")]
    pub(crate) allow_host: Vec<String>,
}

/// The limits the server enforces (the guide's "Reports" chapter, "callmeter serve").
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Connections held at once.
    pub(crate) connections: usize,
    /// Bytes of a request's head (request line and headers): more is 431.
    pub(crate) head_bytes: usize,
    /// Bytes of a request's target: more is 414.
    pub(crate) uri_bytes: usize,
    /// Bytes of a request's body: more is 413.
    pub(crate) body_bytes: usize,
    /// Time to receive a request's head.
    pub(crate) header_timeout: Duration,
    /// Time to receive a request's body.
    pub(crate) body_timeout: Duration,
    /// Time to answer a request.
    pub(crate) request_timeout: Duration,
    /// Time a connection is kept, however busy.
    pub(crate) connection_lifetime: Duration,
    /// Time given to requests under way at shutdown.
    pub(crate) shutdown_grace: Duration,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        connections: 256,
        head_bytes: 16 * 1024,
        uri_bytes: 4 * 1024,
        body_bytes: 4 * 1024,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        connection_lifetime: Duration::from_secs(300),
        shutdown_grace: Duration::from_secs(10),
    };
}

/// What the routes need to answer.
pub(crate) struct Settings {
    pub(crate) key: String,
    pub(crate) secure_cookies: bool,
    /// The range to show when a request names none (given on the command line).
    pub(crate) defaults: Option<(NaiveDate, NaiveDate)>,
    /// The `Host` names accepted, or `None` to accept any (not bound to loopback).
    pub(crate) hosts: Option<Vec<String>>,
    pub(crate) limits: Limits,
}

/// Serves until SIGINT or SIGTERM; an error when the key is missing or short, the database cannot be
/// read, or the address cannot be listened on.
pub(crate) fn serve(args: &ServeArgs) -> Result<(), String> {
    let key = std::env::var(KEY_VARIABLE).unwrap_or_default();
    if key.trim().is_empty() {
        return Err(format!(
            "set {KEY_VARIABLE} to the key requests must carry (`Authorization: Bearer <key>`)"
        ));
    }
    if key.chars().count() < MIN_KEY_LEN {
        return Err(format!(
            "{KEY_VARIABLE} is {} characters long: use at least {MIN_KEY_LEN} (for example 32 random \
             characters: `openssl rand -hex 16`)",
            key.chars().count()
        ));
    }
    if args.max_connections == 0 {
        return Err("--max-connections must be at least 1".into());
    }
    let (first, from, to) = args.source.open()?;
    let lanes = lanes::Lanes::new(first, &args.source)?;
    let limits = Limits {
        connections: listen::fit_to_file_limit(args.max_connections),
        ..Limits::DEFAULT
    };
    let defaults = (args.source.from.is_some() || args.source.to.is_some()).then_some((from, to));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(lanes::BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the server's runtime: {e}"))?;
    runtime.block_on(async move {
        // An address or a name (`localhost:8787`), resolved as the system resolves it.
        let listener = tokio::net::TcpListener::bind(args.listen.as_str())
            .await
            .map_err(|e| format!("--listen {}: {e}", args.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--listen {}: {e}", args.listen))?;
        let settings = Settings {
            key,
            secure_cookies: args.secure_cookies,
            defaults,
            hosts: allowed_hosts(bound, &args.allow_host),
            limits,
        };
        log(format_args!(
            "callmeter: serving on http://{bound}/ (API under /api/; at most {} connections)",
            limits.connections
        ));
        let router = app::router(settings, lanes);
        listen::run(listener, router, limits).await;
        log(format_args!("callmeter: stopped"));
        Ok(())
    })
}

/// The `Host` names accepted when listening on a loopback address (against DNS rebinding): the
/// loopback names and those given with `--allow-host`; `None` (any) on another address.
fn allowed_hosts(bound: SocketAddr, allow: &[String]) -> Option<Vec<String>> {
    bound.ip().is_loopback().then(|| {
        ["localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(str::to_owned)
            .chain(allow.iter().map(|h| h.to_ascii_lowercase()))
            .collect()
    })
}
