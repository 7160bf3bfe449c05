//! `callmeter serve` (feature `cli`) with a real HTTP client: the key is required, the JSON API
//! answers, a browser signs in with a cookie, and the pages render in headless Chromium.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use callmeter::{CallInfo, Meter, Outcome, Quota};

const KEY: &str = "k3y-for-tests-0123456789";

/// A file with two calls, one with an id that needs escaping, and a quota they used 80 % of.
fn database(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("serve.db");
    let (meter, guard) = Meter::builder()
        .path(&path)
        .quota(Quota::monthly("elevenlabs").units(2_500))
        .open()
        .expect("open");
    for id in ["CA1", "CA <b>&2"] {
        let call = meter
            .start_call(CallInfo::new(id).user("u1").tenant("t1"))
            .expect("start");
        call.track_duration("twilio", "outbound-us", 300.0)
            .expect("track");
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)
            .expect("track");
        call.finalize(Outcome::Completed).expect("finalize");
    }
    drop(meter);
    guard.shutdown().expect("shutdown");
    path
}

/// The server on a free port, and its base URL; killed when the guard drops.
struct Served {
    child: Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    /// The server's address (host:port).
    fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Whether the process still runs.
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it has logged after its first line.
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &std::path::Path) -> Served {
    serve_with(db, &[], None)
}

/// The server with more arguments, and under a file limit (through the shell's `ulimit -n`).
fn serve_with(db: &std::path::Path, args: &[&str], file_limit: Option<u32>) -> Served {
    serve_as(db, args, file_limit, KEY)
}

/// The server with the admin key `key`.
fn serve_as(db: &std::path::Path, args: &[&str], file_limit: Option<u32>, key: &str) -> Served {
    let mut command = match file_limit {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_callmeter"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_callmeter")),
    };
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(args)
        .env("CALLMETER_ADMIN_KEY", key)
        .stderr(Stdio::piped())
        .spawn()
        .expect("callmeter serve starts");
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    stderr.read_line(&mut line).expect("its first line");
    // The rest of what it logs, kept for the tests to read.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Ok(mut log) = kept.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Served { child, base, log }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// Status and body of a GET, with the headers given.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().expect("the server answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a body");
    (status, body)
}

const BEARER: (&str, &str) = ("Authorization", "Bearer k3y-for-tests-0123456789");

#[test]
fn without_the_key_in_its_environment_serve_refuses_to_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_callmeter"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("CALLMETER_ADMIN_KEY")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CALLMETER_ADMIN_KEY"));
}

#[test]
fn every_request_needs_the_key_and_the_api_answers_json() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(&database(dir.path()));
    let base = &served.base;
    for path in ["/", "/api/summary", "/api/calls/CA1", "/calls/CA1"] {
        assert_eq!(
            get(&format!("{base}{path}"), &[]).0,
            401,
            "{path} without a key"
        );
        let wrong = [("Authorization", "Bearer nope")];
        assert_eq!(
            get(&format!("{base}{path}"), &wrong).0,
            401,
            "{path}, wrong key"
        );
    }
    let (status, body) = get(&format!("{base}/api/summary"), &[BEARER]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["platform"]["calls"], 2);
    assert_eq!(v["endings"][0]["status"], "completed");
    let (status, body) = get(&format!("{base}/api/calls/CA%20%3Cb%3E%262"), &[BEARER]);
    assert_eq!(status, 200, "{body}");
    let call: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(call["call_id"], "CA <b>&2");
    let (status, body) = get(&format!("{base}/api/calls?limit=1"), &[BEARER]);
    assert_eq!(status, 200);
    let calls: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(calls.as_array().map(Vec::len), Some(1));
    for path in [
        "/api/users",
        "/api/tenants",
        "/api/alerts",
        "/api/reconciliation",
    ] {
        assert_eq!(get(&format!("{base}{path}"), &[BEARER]).0, 200, "{path}");
    }
    let (status, body) = get(&format!("{base}/api/quotas"), &[BEARER]);
    assert_eq!(status, 200);
    let quotas: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(quotas[0]["subject"], "provider:elevenlabs");
    assert_eq!(quotas[0]["units"], "2000");
    assert_eq!(quotas[0]["units_limit"], 2500);
    assert_eq!(quotas[0]["level"], "warning");
    assert_eq!(get(&format!("{base}/api/calls/nope"), &[BEARER]).0, 404);
    assert_eq!(
        get(&format!("{base}/?from=2026-02-10&to=2026-02-01"), &[BEARER]).0,
        400
    );
    let mut post = agent()
        .post(format!("{base}/api/summary"))
        .header(BEARER.0, BEARER.1)
        .send("")
        .expect("answers");
    assert_eq!(post.status().as_u16(), 405);
    let _ = post.body_mut().read_to_string();
}

#[test]
fn a_browser_signs_in_with_the_key_and_gets_a_cookie() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(&database(dir.path()));
    let base = &served.base;
    let (status, form) = get(&format!("{base}/"), &[]);
    assert_eq!(status, 401);
    assert!(form.contains("action=\"/login\""), "{form}");
    let wrong = agent()
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("key=guess")
        .expect("answers");
    assert_eq!(wrong.status().as_u16(), 401);
    let signed = agent()
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("key={KEY}"))
        .expect("answers");
    assert_eq!(signed.status().as_u16(), 303);
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value");
    let (status, page) = get(&format!("{base}/"), &[("Cookie", pair)]);
    assert_eq!(status, 200);
    assert!(page.contains("id=\"dearest-calls\""));
}

/// Renders `html` (saved to a file) in headless Chromium; answers the DOM.
fn chromium(dir: &std::path::Path, name: &str, html: &str) -> String {
    let page = dir.join(name);
    std::fs::write(&page, html).expect("write");
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (.ci/run installs Debian's chromium package)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_served_pages_render_in_chromium_and_link_each_call_to_its_page() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(&database(dir.path()));
    let base = &served.base;
    let (status, dashboard) = get(&format!("{base}/"), &[BEARER]);
    assert_eq!(status, 200);
    let dom = chromium(dir.path(), "dashboard.html", &dashboard);
    assert!(
        dom.contains("id=\"daily-by-category\""),
        "the dashboard renders"
    );
    assert!(
        dom.contains("href=\"calls/CA%20%3Cb%3E%262\""),
        "a call links to its page"
    );
    assert!(dom.contains("CA &lt;b&gt;&amp;2"), "ids are escaped");
    assert!(!dom.contains("<script"));
    let (status, call) = get(&format!("{base}/calls/CA%20%3Cb%3E%262"), &[BEARER]);
    assert_eq!(status, 200);
    let dom = chromium(dir.path(), "call.html", &call);
    assert!(dom.contains("id=\"events\""), "the call's events");
    assert!(
        dom.contains(">twilio<") && dom.contains(">elevenlabs<"),
        "its providers"
    );
    assert!(dom.contains("Call CA &lt;b&gt;&amp;2"), "its id, escaped");
    assert!(!dom.contains("<script"));
}

// ---- Attacks: each reproduced against the server as a client on the network would make it. ----

/// Sends `request` raw and answers what came back (until the server closes, or 5 s).
fn raw(address: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status of a raw answer.
fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Another client is answered: the alerts, with the key.
fn others_are_answered(served: &mut Served) {
    assert!(served.alive(), "the server is gone");
    let (status, body) = get(&format!("{}/api/alerts", served.base), &[BEARER]);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_huge_declared_body_is_refused_and_the_server_lives() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(&database(dir.path()));
    for path in ["/", "/login", "/api/summary"] {
        for method in ["GET", "POST"] {
            let answer = raw(
                served.address(),
                format!(
                    "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000000\r\n\r\n"
                )
                .as_bytes(),
            );
            let status = status_of(&answer);
            assert!([401, 413].contains(&status), "{method} {path}: {answer}");
        }
    }
    let answer = raw(
        served.address(),
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000000\r\n\r\n",
    );
    assert_eq!(status_of(&answer), 413, "{answer}");
    others_are_answered(&mut served);
}

#[test]
fn a_slow_body_holds_only_its_own_connection() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(&database(dir.path()));
    let mut slow = std::net::TcpStream::connect(served.address()).expect("connects");
    slow.write_all(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nk",
    )
    .expect("a head and a byte");
    // While the slow client trickles its body, others are answered, several times over.
    for _ in 0..5 {
        let _ = slow.write_all(b"e");
        others_are_answered(&mut served);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A slow head, likewise.
    let mut slow_head = std::net::TcpStream::connect(served.address()).expect("connects");
    let _ = slow_head.write_all(b"GET / HTTP/1.1\r\nHost: 127.");
    others_are_answered(&mut served);
}

#[test]
fn idle_connections_past_the_file_limit_leave_the_server_answering() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve_with(&database(dir.path()), &[], Some(64));
    let held: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| std::net::TcpStream::connect(served.address()).ok())
        .collect();
    assert!(held.len() >= 100, "the connections were made");
    others_are_answered(&mut served);
    // More, and half-sent requests among them.
    let more: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(served.address()).ok()?;
            let _ = s.write_all(b"GET /api/alerts HTTP/1.1\r\n");
            Some(s)
        })
        .collect();
    others_are_answered(&mut served);
    drop((held, more));
    others_are_answered(&mut served);
    assert!(served.alive(), "still running");
}

#[test]
fn an_absurd_date_range_is_a_400_and_the_server_lives() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(&database(dir.path()));
    let base = served.base.clone();
    for query in [
        "from=-262143-01-01&to=-262143-01-01",
        "from=+262142-12-31&to=+262142-12-31",
        "from=1970-01-01&to=2026-01-01",
        "to=1900-01-01",
        "limit=18446744073709551616",
        "limit=0",
    ] {
        for path in ["/", "/api/summary", "/api/calls", "/api/quotas"] {
            let (status, body) = get(&format!("{base}{path}?{query}"), &[BEARER]);
            assert_eq!(status, 400, "{path}?{query}: {body}");
        }
    }
    others_are_answered(&mut served);
}

#[test]
fn heads_and_targets_past_their_limits_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(&database(dir.path()));
    let big = "a".repeat(64 * 1024);
    let answer = raw(
        served.address(),
        format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    );
    assert_eq!(
        status_of(&answer),
        431,
        "{}",
        &answer[..answer.len().min(200)]
    );
    let answer = raw(
        served.address(),
        format!(
            "GET /api/calls?x={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            &big[..8000]
        )
        .as_bytes(),
    );
    assert_eq!(
        status_of(&answer),
        414,
        "{}",
        &answer[..answer.len().min(200)]
    );
    // A header line without end: the server stops reading at its limit.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(served.address()).expect("connects");
        let _ = s.write_all(b"GET / HTTP/1.1\r\nX-Endless: ");
        let chunk = vec![b'a'; 64 * 1024];
        let sent = (0..5_000)
            .take_while(|_| s.write_all(&chunk).is_ok())
            .count();
        assert!(
            sent < 5_000,
            "the server stopped reading long before 300 MiB"
        );
    }
    others_are_answered(&mut served);
}

#[test]
fn a_burst_of_dashboards_does_not_hold_up_the_api() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("big.db");
    {
        let (meter, guard) = Meter::builder().path(&db).open().expect("open");
        for i in 0..3_000 {
            let call = meter
                .start_call(CallInfo::new(format!("c{i}")).user(format!("u{}", i % 50)))
                .expect("start");
            for _ in 0..5 {
                call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)
                    .expect("track");
                call.track_duration("twilio", "outbound-us", 30.0)
                    .expect("track");
            }
            call.finalize(Outcome::Completed).expect("finalize");
        }
        drop(meter);
        guard.shutdown().expect("shutdown");
    }
    let mut served = serve(&db);
    let base = served.base.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let loads: Vec<_> = (0..50)
        .map(|_| {
            let (base, done) = (base.clone(), std::sync::Arc::clone(&done));
            std::thread::spawn(move || {
                let status = get(&format!("{base}/"), &[BEARER]).0;
                if status == 200 {
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                status
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let asked = std::time::Instant::now();
    others_are_answered(&mut served);
    let answered_in = asked.elapsed();
    let loaded_before = done.load(std::sync::atomic::Ordering::SeqCst);
    let statuses: Vec<u16> = loads
        .into_iter()
        .map(|h| h.join().expect("a load"))
        .collect();
    let loaded = statuses.iter().filter(|s| **s == 200).count();
    #[allow(
        clippy::print_stderr,
        reason = "the measure, for the reader of the test's output"
    )]
    {
        eprintln!(
            "alerts answered in {answered_in:?}, after {loaded_before} of the {loaded} dashboards served"
        );
    }
    // Served in turn, the alerts would come after every dashboard asked before them.
    assert!(
        loaded_before < loaded / 2,
        "the alerts were answered before half the dashboards: {loaded_before} of {loaded}"
    );
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
}

#[test]
fn failed_keys_are_slowed_per_address() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(&database(dir.path()));
    let base = served.base.clone();
    let mut statuses = Vec::new();
    for i in 0..15 {
        let wrong = format!("Bearer wrong-key-number-{i:04}");
        statuses.push(get(&format!("{base}/api/summary"), &[("Authorization", &wrong)]).0);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429; 5], "{statuses:?}");
    // Sign-in attempts from the address are refused too, with when to come back.
    let refused = agent()
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("key={KEY}"))
        .expect("answers");
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    assert!(served.alive());
}

#[test]
fn a_short_key_is_refused_at_start() {
    for key in ["a", "fifteen-chars15"] {
        let out = Command::new(env!("CARGO_BIN_EXE_callmeter"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("CALLMETER_ADMIN_KEY", key)
            .output()
            .expect("runs");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("at least 16"), "{stderr}");
    }
}

/// Signs in; answers the `Set-Cookie` header.
fn sign_in(base: &str) -> String {
    let signed = agent()
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("key={}", KEY.replace('-', "%2D")))
        .expect("answers");
    assert_eq!(signed.status().as_u16(), 303);
    signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned()
}

#[test]
fn the_session_cookie_is_a_token_that_expires_and_logs_out() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve_with(&database(dir.path()), &["--secure-cookies"], None);
    let base = &served.base;
    let cookie = sign_in(base);
    assert!(
        !cookie.contains(KEY),
        "the key is not in the cookie: {cookie}"
    );
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=43200",
        "Secure",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    assert_eq!(
        get(&format!("{base}/api/alerts"), &[("Cookie", &pair)]).0,
        200
    );
    let out = agent()
        .post(format!("{base}/logout"))
        .header("Cookie", &pair)
        .send("")
        .expect("answers");
    assert_eq!(out.status().as_u16(), 303);
    let cleared = out
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        get(&format!("{base}/api/alerts"), &[("Cookie", &pair)]).0,
        401,
        "the session ended"
    );
    // A key with characters a cookie cannot hold signs in all the same (the cookie holds a token).
    let dir = tempfile::tempdir().expect("dir");
    let odd = serve_as(
        &database(dir.path()),
        &[],
        None,
        "a;b c=d,\"e\"-long-enough",
    );
    let signed = agent()
        .post(format!("{}/login", odd.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send("key=a%3Bb+c%3Dd%2C%22e%22-long-enough")
        .expect("answers");
    let status = signed.status().as_u16();
    assert_eq!(status, 303);
}

#[test]
fn every_answer_carries_the_security_headers() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(&database(dir.path()));
    let base = &served.base;
    let call = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let request = request.body(()).expect("a request");
        agent().run(request).expect("answers")
    };
    for (method, path, headers) in [
        ("GET", "/", &[BEARER][..]),
        ("GET", "/api/summary", &[][..]),
        ("GET", "/login", &[][..]),
        ("GET", "/nope", &[BEARER][..]),
    ] {
        let response = call(method, path, headers);
        let h = response.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(
            h.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
        assert_eq!(
            h.get("referrer-policy").map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..])
        );
        assert!(h.get("server").is_none(), "no banner on {path}");
    }
    let unauthorized = call("GET", "/api/summary", &[]);
    assert_eq!(unauthorized.status().as_u16(), 401);
    assert!(
        unauthorized
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer")),
        "WWW-Authenticate on 401"
    );
    let not_allowed = call("DELETE", "/api/summary", &[BEARER]);
    assert_eq!(not_allowed.status().as_u16(), 405);
    let allow = not_allowed
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        allow.contains("GET") && allow.contains("HEAD"),
        "Allow: {allow}"
    );
    assert_eq!(
        call("HEAD", "/api/summary", &[BEARER]).status().as_u16(),
        200
    );
    let lower = format!("bearer {KEY}");
    assert_eq!(
        call("GET", "/api/alerts", &[("Authorization", &lower)])
            .status()
            .as_u16(),
        200,
        "the scheme in any case"
    );
    // Bound to loopback: another site's name in Host is refused (DNS rebinding).
    let answer = raw(
        served.address(),
        format!(
            "GET /api/alerts HTTP/1.1\r\nHost: evil.example:{}\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n",
            served.address().rsplit(':').next().unwrap_or("")
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&answer), 421, "{answer}");
    let answer = raw(
        served.address(),
        format!(
            "GET /api/alerts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[test]
fn a_failure_shows_a_reference_and_logs_the_detail() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database(dir.path());
    let served = serve(&db);
    // The database loses a table under the server.
    rusqlite::Connection::open(&db)
        .and_then(|c| c.execute_batch("DROP TABLE alerts"))
        .expect("a table dropped");
    let (status, body) = get(&format!("{}/api/alerts", served.base), &[BEARER]);
    assert_eq!(status, 500);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let reference = v["reference"].as_str().expect("a reference").to_owned();
    for leak in ["alerts", "SELECT", "no such table", "sqlite", ".db"] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !served.log().contains(&reference) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = served.log();
    assert!(
        log.contains(&reference) && log.contains("no such table"),
        "the log has the detail: {log}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly_and_a_taken_port_is_an_error() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database(dir.path());
    let mut served = serve(&db);
    // Another server on the same address cannot listen: it says so and exits non-zero.
    let out = Command::new(env!("CARGO_BIN_EXE_callmeter"))
        .args(["serve", "--listen", served.address(), "--db"])
        .arg(&db)
        .env("CALLMETER_ADMIN_KEY", KEY)
        .output()
        .expect("runs");
    assert!(!out.status.success(), "a taken port is a failure");
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = served.child.wait().expect("it exits");
    assert!(exit.success(), "{exit:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !served.log().contains("stopped") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(served.log().contains("stopped"));
}

/// Random query strings on every route: never a 5xx, never an exit.
#[test]
fn no_query_string_makes_a_server_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let dir = tempfile::tempdir().expect("dir");
    let mut served = serve(&database(dir.path()));
    let base = served.base.clone();
    let routes = [
        "/",
        "/api/summary",
        "/api/calls",
        "/api/calls/CA1",
        "/calls/CA1",
        "/api/users",
        "/api/tenants",
        "/api/alerts",
        "/api/reconciliation",
        "/api/quotas",
    ];
    let value = prop_oneof![
        Just(String::new()),
        Just("-262143-01-01".to_owned()),
        Just("+262142-12-31".to_owned()),
        Just("18446744073709551616".to_owned()),
        "[0-9+-]{1,8}-[0-9]{1,2}-[0-9]{1,2}",
        "(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
        "-?[0-9]{1,25}",
        "[ -~]{0,20}",
        "%[0-9A-Fa-f]{0,2}[%a-z]{0,4}",
    ];
    let name = prop_oneof![Just("from"), Just("to"), Just("limit"), Just("x")];
    let strategy = (
        0..routes.len(),
        proptest::collection::vec((name, value), 0..4),
    );
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(route, pairs)| {
            let query: String = pairs
                .iter()
                .map(|(k, v)| {
                    let v: String = v
                        .chars()
                        .map(|c| match c {
                            ' ' => "+".to_owned(),
                            '#' => "%23".to_owned(),
                            '&' => "%26".to_owned(),
                            c => c.to_string(),
                        })
                        .collect();
                    format!("{k}={v}")
                })
                .collect::<Vec<_>>()
                .join("&");
            let url = format!("{base}{}?{query}", routes[route]);
            let Ok(uri) = url.parse::<ureq::http::Uri>() else {
                return Ok(()); // not a URL a client can send
            };
            let mut response = agent()
                .get(uri)
                .header(BEARER.0, BEARER.1)
                .call()
                .map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
            let status = response.status().as_u16();
            let _ = response.body_mut().read_to_string();
            prop_assert!(status < 500, "{url}: {status}");
            Ok(())
        })
        .expect("no query string makes a server error");
    others_are_answered(&mut served);
}

/// `--listen` takes a name as well as an address, as the system resolves it.
#[test]
fn a_host_name_to_listen_on_is_resolved() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_callmeter"))
        .args(["serve", "--listen", "localhost:0", "--db"])
        .arg(&db)
        .env("CALLMETER_ADMIN_KEY", KEY)
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("its first line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|b| b.trim_end_matches('/').to_owned());
    let status = base
        .as_ref()
        .map(|b| get(&format!("{b}/api/alerts"), &[BEARER]).0);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, Some(200), "{line}");
}
