//! The routes: every parameter validated (400 with a message), report queries in their lanes,
//! security headers on every answer, and errors that show the client a reference, not the detail.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use callmeter::Reports;
use callmeter::report::GroupBy;
use chrono::{NaiveDate, Utc};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::Settings;
use super::auth::{self, Sessions, Throttle};
use super::lanes::{Lane, Lanes, Refused};

/// The client's address, put on each request by the accept loop.
#[derive(Clone, Copy, Debug)]
pub(super) struct Client(pub(super) SocketAddr);

/// The first and last day a request may name.
const FIRST_DAY: (i32, u32, u32) = (2000, 1, 1);
const LAST_DAY: (i32, u32, u32) = (2099, 12, 31);
/// The longest range, in days.
const MAX_RANGE_DAYS: i64 = 3_660;
/// The most calls `/api/calls` lists.
const MAX_LIMIT: usize = 1_000;

/// The headers every answer carries.
const SECURITY_HEADERS: [(header::HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; \
         form-action 'self'; base-uri 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
];

struct AppState {
    settings: Settings,
    lanes: Arc<Lanes>,
    sessions: Sessions,
    throttle: Throttle,
}

type Shared = State<Arc<AppState>>;

/// The whole application, with its limits.
pub(super) fn router(settings: Settings, lanes: Lanes) -> Router {
    let limits = settings.limits;
    let state = Arc::new(AppState {
        settings,
        lanes: Arc::new(lanes),
        sessions: Sessions::default(),
        throttle: Throttle::default(),
    });
    let protected = Router::new()
        .route("/", get(dashboard))
        .route("/calls/{*id}", get(call_page))
        .route("/api/summary", get(summary))
        .route("/api/calls", get(calls))
        .route("/api/calls/{*id}", get(call_json))
        .route("/api/users", get(users))
        .route("/api/tenants", get(tenants))
        .route("/api/alerts", get(alerts))
        .route("/api/reconciliation", get(reconciliation))
        .route("/api/quotas", get(quotas))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    let public = Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout).post(logout));
    protected
        .merge(public)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        // Innermost first: the body's size and time, the request's time, the target and `Host`,
        // and the headers every answer carries.
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            check_request,
        ))
        .layer(middleware::map_response(secure))
        .with_state(state)
}

/// A JSON error: `{"error": message}`.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A failure of ours: the client gets a reference, the log the detail.
fn failure(detail: &str) -> Response {
    let reference = uuid::Uuid::new_v4().simple().to_string();
    let reference = &reference[..12];
    super::log(format_args!("callmeter serve: error {reference}: {detail}"));
    let body = serde_json::json!({
        "error": "internal error: the server's log has the detail",
        "reference": reference,
    })
    .to_string();
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => failure(&format!("encoding JSON: {e}")),
    }
}

/// Every answer: the security headers, and no server banner.
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.remove(header::SERVER);
    response
}

/// The request's target is not too long; its `Host` is one of ours when bound to loopback (a page
/// of another site resolving its name to 127.0.0.1 cannot read the API: DNS rebinding).
async fn check_request(State(state): Shared, request: Request, next: Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > state.settings.limits.uri_bytes {
        return error(StatusCode::URI_TOO_LONG, "the request's target is too long");
    }
    if let Some(hosts) = &state.settings.hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_name);
        if !host.is_some_and(|h| hosts.contains(&h)) {
            return error(
                StatusCode::MISDIRECTED_REQUEST,
                "the Host header names no name this server answers to (see --allow-host)",
            );
        }
    }
    next.run(request).await
}

/// A `Host` header's name, lowercase, without its port.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host.clone(), |(v6, _)| format!("{v6}]"));
    }
    host.rsplit_once(':')
        .map_or(host.clone(), |(name, _)| name.to_owned())
}

fn client(request: &Request) -> std::net::IpAddr {
    request
        .extensions()
        .get::<Client>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip())
}

fn too_many(wait: Duration) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed attempts from this address: try again later",
    );
    if let Ok(v) = HeaderValue::from_str(&(wait.as_secs() + 1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

const LOGIN: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>callmeter — sign in</title></head><body style=\"font-family:system-ui,sans-serif;margin:3em\">\
<h1>callmeter</h1><form method=\"post\" action=\"/login\"><label>Admin key \
<input type=\"password\" name=\"key\" autofocus></label> <button>Sign in</button></form></body></html>";

fn unauthorized(path: &str) -> Response {
    let mut response = if path.starts_with("/api/") {
        error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong key: send `Authorization: Bearer <key>`",
        )
    } else {
        html(StatusCode::UNAUTHORIZED, LOGIN.to_owned())
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"callmeter\""),
    );
    response
}

/// The key as a Bearer token, or a live session's cookie; failed keys are counted per address.
async fn require_key(State(state): Shared, request: Request, next: Next) -> Response {
    let address = client(&request);
    if let Err(wait) = state.throttle.check(address) {
        return too_many(wait);
    }
    let headers = request.headers();
    let mut wrong_key = false;
    for value in headers.get_all(header::AUTHORIZATION) {
        if let Some(key) = value.to_str().ok().and_then(auth::bearer) {
            if auth::same(key, &state.settings.key) {
                return next.run(request).await;
            }
            wrong_key = true;
        }
    }
    if session(headers).is_some_and(|t| state.sessions.valid(t)) {
        return next.run(request).await;
    }
    if wrong_key {
        state.throttle.fail(address);
    }
    unauthorized(request.uri().path())
}

/// The session token in the request's cookies.
fn session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| auth::cookie(c, auth::COOKIE))
}

async fn login_form() -> Response {
    html(StatusCode::OK, LOGIN.to_owned())
}

/// `POST /login` with the key: a session cookie, and back to the dashboard.
async fn login(State(state): Shared, request: Request) -> Response {
    let address = client(&request);
    if let Err(wait) = state.throttle.check(address) {
        return too_many(wait);
    }
    let limit = state.settings.limits.body_bytes;
    let body = match axum::body::to_bytes(request.into_body(), limit).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the form could not be read (too large, or too slow)",
            );
        }
    };
    let given = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !auth::same(&given, &state.settings.key) {
        state.throttle.fail(address);
        return html(StatusCode::UNAUTHORIZED, LOGIN.to_owned());
    }
    let token = state.sessions.start();
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        auth::COOKIE,
        auth::SESSION_TTL.as_secs()
    );
    redirect("/", &cookie)
}

/// Ends the session, clears the cookie, and back to the sign-in form.
async fn logout(State(state): Shared, headers: HeaderMap) -> Response {
    if let Some(token) = session(&headers) {
        state.sessions.end(token);
    }
    let cookie = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        auth::COOKIE
    );
    redirect("/login", &cookie)
}

fn redirect(to: &'static str, cookie: &str) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// A request's validated parameters.
struct Params {
    from: NaiveDate,
    to: NaiveDate,
    limit: usize,
}

/// Reads `from`, `to` and `limit`: days from 2000-01-01 to 2099-12-31, at most 3 660 of them, `from`
/// not after `to`; a limit from 1 to 1 000 (default 100).
fn params(uri: &Uri, defaults: Option<(NaiveDate, NaiveDate)>) -> Result<Params, String> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let day = |name: &str, v: &str| -> Result<NaiveDate, String> {
        let shown: String = v.chars().take(40).collect();
        let d = v
            .parse::<NaiveDate>()
            .map_err(|_| format!("{name}={shown:?}: not a day (YYYY-MM-DD)"))?;
        let (first, last) = (bound(FIRST_DAY), bound(LAST_DAY));
        if d < first || d > last {
            return Err(format!("{name}={d}: a day from {first} to {last}"));
        }
        Ok(d)
    };
    let today = Utc::now().date_naive();
    let (default_from, default_to) = defaults.unwrap_or_else(|| {
        (
            today
                .checked_sub_days(chrono::Days::new(29))
                .unwrap_or(today),
            today,
        )
    });
    let to = param("to").map(|v| day("to", v)).transpose()?;
    let from = param("from").map(|v| day("from", v)).transpose()?;
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, default_to.max(f)),
        (None, Some(t)) => (default_from.min(t), t),
        (None, None) => (default_from, default_to),
    };
    if from > to {
        return Err(format!("from {from} is after to {to}"));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(format!(
            "{from} to {to}: at most {MAX_RANGE_DAYS} days at once"
        ));
    }
    let limit = match param("limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                let shown: String = v.chars().take(40).collect();
                return Err(format!(
                    "limit={shown:?}: a whole number from 1 to {MAX_LIMIT}"
                ));
            }
        },
    };
    Ok(Params { from, to, limit })
}

fn bound((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// A report: the parameters validated, the query run in `lane`, its answer made into a response.
async fn report<F>(state: Arc<AppState>, uri: &Uri, lane: Lane, query: F) -> Response
where
    F: FnOnce(&Reports, Params) -> Result<Response, callmeter::Error> + Send + 'static,
{
    let p = match params(uri, state.settings.defaults) {
        Ok(p) => p,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    match state.lanes.run(lane, move |r| query(r, p)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => failure(&crate::describe(&e)),
        Err(Refused::Busy) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: too many reports under way; try again shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(Refused::Failed(detail)) => failure(&detail),
    }
}

/// The call id after `prefix` in the request's path, percent-decoded.
fn call_id(uri: &Uri, prefix: &str) -> String {
    let raw = uri.path().strip_prefix(prefix).unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

async fn dashboard(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Heavy, |r, p| {
        Ok(html(StatusCode::OK, r.html_linked(p.from, p.to, &[])?))
    })
    .await
}

async fn summary(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Heavy, |r, p| {
        Ok(json(&serde_json::json!({
            "platform": r.platform(p.from, p.to)?,
            "endings": r.endings(p.from, p.to)?,
            "cost_spread": r.cost_spread(p.from, p.to)?,
            "against_previous": r.against_previous(p.from, p.to)?,
        })))
    })
    .await
}

async fn calls(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Light, |r, p| {
        let calls: Vec<_> = r
            .top_calls(p.from, p.to, p.limit)?
            .into_iter()
            .map(|(call_id, cost)| serde_json::json!({ "call_id": call_id, "cost": cost }))
            .collect();
        Ok(json(&calls))
    })
    .await
}

async fn users(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Light, |r, p| {
        Ok(json(&r.calls_by(GroupBy::User, p.from, p.to)?))
    })
    .await
}

async fn tenants(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Light, |r, p| {
        Ok(json(&r.calls_by(GroupBy::Tenant, p.from, p.to)?))
    })
    .await
}

async fn alerts(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Light, |r, p| {
        Ok(match r.alerts(p.from, p.to)? {
            Some(alerts) => json(&alerts),
            None => error(
                StatusCode::NOT_FOUND,
                "a fleet database holds no alerts: each server keeps its own",
            ),
        })
    })
    .await
}

async fn reconciliation(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Heavy, |r, p| {
        let options = callmeter::report::ReconcileOptions::default();
        Ok(json(&r.reconcile(p.from, p.to, &options)?))
    })
    .await
}

async fn quotas(State(state): Shared, uri: Uri) -> Response {
    report(state, &uri, Lane::Light, |r, p| {
        Ok(match r.quotas(p.to)? {
            Some(quotas) => json(&quotas),
            None => error(
                StatusCode::NOT_FOUND,
                "a fleet database holds no quotas: each server keeps its own",
            ),
        })
    })
    .await
}

async fn call_json(State(state): Shared, uri: Uri) -> Response {
    let id = call_id(&uri, "/api/calls/");
    report(state, &uri, Lane::Light, move |r, _| {
        Ok(match r.call(&id)? {
            Some(call) => json(&call),
            None => error(StatusCode::NOT_FOUND, "no such call"),
        })
    })
    .await
}

async fn call_page(State(state): Shared, uri: Uri) -> Response {
    let id = call_id(&uri, "/calls/");
    report(state, &uri, Lane::Light, move |r, _| {
        Ok(match r.call_html(&id)? {
            Some(page) => html(StatusCode::OK, page),
            None => html(
                StatusCode::NOT_FOUND,
                maud::html! { "no call " (id) }.into_string(),
            ),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(q: &str) -> Uri {
        format!("/api/summary?{q}").parse().expect("a uri")
    }

    #[test]
    fn dates_and_limits_are_validated() {
        assert!(params(&uri("from=2026-01-01&to=2026-01-31"), None).is_ok());
        for bad in [
            "from=-262143-01-01&to=-262143-01-01",
            "from=1999-12-31",
            "to=2100-01-01",
            "from=2026-02-10&to=2026-02-01",
            "from=2000-01-01&to=2099-12-31",
            "from=yesterday",
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=99999999999999999999999",
        ] {
            assert!(params(&uri(bad), None).is_err(), "{bad}");
        }
        let p = params(&uri("limit=1000"), None).expect("a limit");
        assert_eq!(p.limit, 1000);
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("LocalHost:8787"), "localhost");
        assert_eq!(host_name("[::1]:8787"), "[::1]");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("evil.example:80"), "evil.example");
    }
}
