//! `callmeter serve`: the dashboard, each call's page and a JSON API over HTTP, read-only, behind
//! the key in `CALLMETER_ADMIN_KEY`.

use std::io::Read;

use callmeter::Reports;
use callmeter::report::GroupBy;
use chrono::{NaiveDate, Utc};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::{Source, describe};

/// The variable holding the key every request must carry.
pub(crate) const KEY_VARIABLE: &str = "CALLMETER_ADMIN_KEY";
const COOKIE: &str = "callmeter_key";

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// Where to listen (loopback only by default).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8787")]
    pub(crate) listen: String,
}

/// A response: status, content type and body.
struct Reply {
    status: u16,
    kind: &'static str,
    body: Vec<u8>,
    cookie: Option<String>,
}

impl Reply {
    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            kind: "text/html; charset=utf-8",
            body: body.into_bytes(),
            cookie: None,
        }
    }

    fn json(value: &impl serde::Serialize) -> Reply {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Reply {
                status: 200,
                kind: "application/json",
                body,
                cookie: None,
            },
            Err(e) => Reply::error(500, &e.to_string()),
        }
    }

    fn error(status: u16, message: &str) -> Reply {
        let body = serde_json::json!({ "error": message })
            .to_string()
            .into_bytes();
        Reply {
            status,
            kind: "application/json",
            body,
            cookie: None,
        }
    }
}

/// Serves until the process is stopped.
pub(crate) fn serve(args: &ServeArgs) -> Result<(), String> {
    let key = std::env::var(KEY_VARIABLE).unwrap_or_default();
    if key.trim().is_empty() {
        return Err(format!(
            "set {KEY_VARIABLE} to the key requests must carry (`Authorization: Bearer <key>`)"
        ));
    }
    let (reports, from, to) = args.source.open()?;
    let server = Server::http(&args.listen).map_err(|e| format!("{}: {e}", args.listen))?;
    let address = server
        .server_addr()
        .to_ip()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    eprintln!("callmeter: serving on http://{address}/ (API under /api/)");
    let defaults = (args.source.from.is_some() || args.source.to.is_some()).then_some((from, to));
    for mut request in server.incoming_requests() {
        let reply = answer(&reports, &key, defaults, &mut request);
        let mut response = Response::from_data(reply.body).with_status_code(reply.status);
        let headers = [
            ("Content-Type", reply.kind.to_owned()),
            ("Cache-Control", "no-store".to_owned()),
            ("X-Content-Type-Options", "nosniff".to_owned()),
        ];
        for (name, value) in headers {
            if let Ok(h) = Header::from_bytes(name, value) {
                response.add_header(h);
            }
        }
        if let Some(cookie) = reply.cookie {
            if let Ok(h) = Header::from_bytes("Set-Cookie", cookie) {
                response.add_header(h);
            }
            if let Ok(h) = Header::from_bytes("Location", "/") {
                response.add_header(h);
            }
        }
        let _ = request.respond(response);
    }
    Ok(())
}

/// Equal without an early exit, so the time taken does not tell how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether the request carries the key: `Authorization: Bearer <key>`, or the cookie `/login` sets.
fn authorized(request: &Request, key: &str) -> bool {
    request.headers().iter().any(|h| {
        let value = h.value.as_str();
        if h.field.equiv("Authorization") {
            value
                .strip_prefix("Bearer ")
                .is_some_and(|k| same(k.trim(), key))
        } else if h.field.equiv("Cookie") {
            value.split(';').any(|c| {
                c.trim()
                    .strip_prefix(COOKIE)
                    .and_then(|v| v.strip_prefix('='))
                    .is_some_and(|v| same(v, key))
            })
        } else {
            false
        }
    })
}

const LOGIN: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>callmeter — sign in</title></head><body style=\"font-family:system-ui,sans-serif;margin:3em\">\
<h1>callmeter</h1><form method=\"post\" action=\"/login\"><label>Admin key \
<input type=\"password\" name=\"key\" autofocus></label> <button>Sign in</button></form></body></html>";

fn answer(
    reports: &Reports,
    key: &str,
    defaults: Option<(NaiveDate, NaiveDate)>,
    request: &mut Request,
) -> Reply {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if path == "/login" {
        return login(key, request);
    }
    if !authorized(request, key) {
        return if path.starts_with("/api/") {
            Reply::error(
                401,
                "missing or wrong key: send `Authorization: Bearer <key>`",
            )
        } else {
            Reply::html(401, LOGIN.to_owned())
        };
    }
    if *request.method() != Method::Get {
        return Reply::error(405, "read-only: GET only");
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (from, to) = match range(param("from"), param("to"), defaults) {
        Ok(r) => r,
        Err(e) => return Reply::error(400, &e),
    };
    let result = route(reports, path, from, to, param("limit"));
    result.unwrap_or_else(|e| Reply::error(500, &e))
}

/// The days asked for, or the defaults: the last 30 days.
fn range(
    from: Option<&str>,
    to: Option<&str>,
    defaults: Option<(NaiveDate, NaiveDate)>,
) -> Result<(NaiveDate, NaiveDate), String> {
    let day = |v: &str| {
        v.parse::<NaiveDate>()
            .map_err(|e| format!("{v}: not a day (YYYY-MM-DD): {e}"))
    };
    let today = Utc::now().date_naive();
    let (default_from, default_to) =
        defaults.unwrap_or((today - chrono::Duration::days(29), today));
    let to = to.map(day).transpose()?.unwrap_or(default_to);
    let from = from.map(day).transpose()?.unwrap_or(default_from);
    if from > to {
        return Err(format!("from {from} is after to {to}"));
    }
    Ok((from, to))
}

fn route(
    reports: &Reports,
    path: &str,
    from: NaiveDate,
    to: NaiveDate,
    limit: Option<&str>,
) -> Result<Reply, String> {
    let call_id = |prefix: &str| {
        path.strip_prefix(prefix).map(|id| {
            percent_encoding::percent_decode_str(id)
                .decode_utf8_lossy()
                .into_owned()
        })
    };
    let e = |e: callmeter::Error| describe(&e);
    Ok(match path {
        "/" => Reply::html(200, reports.html_linked(from, to, &[]).map_err(e)?),
        "/api/summary" => Reply::json(&serde_json::json!({
            "platform": reports.platform(from, to).map_err(e)?,
            "endings": reports.endings(from, to).map_err(e)?,
            "cost_spread": reports.cost_spread(from, to).map_err(e)?,
            "against_previous": reports.against_previous(from, to).map_err(e)?,
        })),
        "/api/calls" => {
            let n = limit.and_then(|l| l.parse().ok()).unwrap_or(100);
            let calls: Vec<_> = reports
                .top_calls(from, to, n)
                .map_err(e)?
                .into_iter()
                .map(|(call_id, cost)| serde_json::json!({ "call_id": call_id, "cost": cost }))
                .collect();
            Reply::json(&calls)
        }
        "/api/users" => Reply::json(&reports.calls_by(GroupBy::User, from, to).map_err(e)?),
        "/api/tenants" => Reply::json(&reports.calls_by(GroupBy::Tenant, from, to).map_err(e)?),
        "/api/alerts" => match reports.alerts(from, to).map_err(e)? {
            Some(alerts) => Reply::json(&alerts),
            None => Reply::error(
                404,
                "a fleet database holds no alerts: each server keeps its own",
            ),
        },
        "/api/reconciliation" => Reply::json(
            &reports
                .reconcile(from, to, &callmeter::report::ReconcileOptions::default())
                .map_err(e)?,
        ),
        "/api/quotas" => match reports.quotas(to).map_err(e)? {
            Some(quotas) => Reply::json(&quotas),
            None => Reply::error(
                404,
                "a fleet database holds no quotas: each server keeps its own",
            ),
        },
        _ => {
            if let Some(id) = call_id("/api/calls/") {
                match reports.call(&id).map_err(e)? {
                    Some(call) => Reply::json(&call),
                    None => Reply::error(404, &format!("no call {id:?}")),
                }
            } else if let Some(id) = call_id("/calls/") {
                match reports.call_html(&id).map_err(e)? {
                    Some(page) => Reply::html(200, page),
                    None => Reply::html(404, maud::html! { "no call " (id) }.into_string()),
                }
            } else {
                Reply::error(404, "no such page")
            }
        }
    })
}

/// `GET /login`: the form; `POST /login` with the key: the cookie, and back to the dashboard.
fn login(key: &str, request: &mut Request) -> Reply {
    if *request.method() != Method::Post {
        return Reply::html(200, LOGIN.to_owned());
    }
    let mut body = String::new();
    if request
        .as_reader()
        .take(4096)
        .read_to_string(&mut body)
        .is_err()
    {
        return Reply::error(400, "unreadable form");
    }
    let given = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !same(&given, key) {
        return Reply::html(401, LOGIN.to_owned());
    }
    Reply {
        status: 303,
        kind: "text/plain",
        body: Vec::new(),
        cookie: Some(format!("{COOKIE}={key}; HttpOnly; SameSite=Strict; Path=/")),
    }
}
