//! `callmeter serve` (feature `cli`) with a real HTTP client: the key is required, the JSON API
//! answers, a browser signs in with a cookie, and the pages render in headless Chromium.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use callmeter::{CallInfo, Meter, Outcome, Quota};

const KEY: &str = "k3y-for-tests";

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
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &std::path::Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callmeter"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("CALLMETER_ADMIN_KEY", KEY)
        .stderr(Stdio::piped())
        .spawn()
        .expect("callmeter serve starts");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("its first line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Served { child, base }
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

const BEARER: (&str, &str) = ("Authorization", "Bearer k3y-for-tests");

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
