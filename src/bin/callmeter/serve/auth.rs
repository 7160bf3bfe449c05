//! Who may read: the admin key (compared in constant time), the session tokens a browser gets for
//! it, and the slowing of failed attempts per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The session cookie's name.
pub(super) const COOKIE: &str = "callmeter_session";
/// How long a session lasts (the cookie's `Max-Age`).
pub(super) const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions held at once; a new one past it ends the oldest.
const MAX_SESSIONS: usize = 1024;
/// Failed attempts an address may make in a window before it is refused until the window ends.
pub(super) const FAILURES_ALLOWED: u32 = 10;
/// The window failed attempts are counted in.
pub(super) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are remembered at once; past it, the oldest window is forgotten.
const MAX_ADDRESSES: usize = 4096;

/// Equal without an early exit, so the time taken does not tell how much of a guess was right.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The key of an `Authorization` header of the Bearer scheme (the scheme's name in any case,
/// RFC 7235), or `None` for another scheme.
pub(super) fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// The value of cookie `name` in a `Cookie` header.
pub(super) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| {
        let (n, v) = c.trim().split_once('=')?;
        (n == name).then_some(v)
    })
}

/// The signed-in browsers: random tokens, never the key.
#[derive(Default)]
pub(super) struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// A new session's token (244 random bits, hex).
    pub(super) fn start(&self) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, ends| *ends > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(t, _)| t.clone())
        {
            live.remove(&oldest);
        }
        live.insert(token.clone(), now + SESSION_TTL);
        token
    }

    /// Whether `token` is a live session.
    pub(super) fn valid(&self, token: &str) -> bool {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(token).is_some_and(|ends| *ends > Instant::now())
    }

    /// Ends the session.
    pub(super) fn end(&self, token: &str) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
}

/// Failed attempts per client address, in a bounded table.
#[derive(Default)]
pub(super) struct Throttle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    /// `Err(wait)` while `address` has used up its failures: how long until it may try again.
    pub(super) fn check(&self, address: IpAddr) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match failures.get(&address) {
            Some((since, n)) if *n >= FAILURES_ALLOWED => {
                let ends = *since + FAILURE_WINDOW;
                let now = Instant::now();
                if ends > now { Err(ends - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt from `address`.
    pub(super) fn fail(&self, address: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if !failures.contains_key(&address) && failures.len() >= MAX_ADDRESSES {
            failures.retain(|_, (since, _)| *since + FAILURE_WINDOW > now);
            if failures.len() >= MAX_ADDRESSES
                && let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(a, _)| *a)
            {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(address).or_insert((now, 0));
        if entry.0 + FAILURE_WINDOW <= now {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER\tabc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn an_address_is_refused_after_its_failures_and_others_are_not() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 2].into(), [127, 0, 0, 3].into());
        for _ in 0..FAILURES_ALLOWED {
            assert!(t.check(a).is_ok());
            t.fail(a);
        }
        assert!(t.check(a).is_err());
        assert!(t.check(b).is_ok());
    }

    #[test]
    fn the_failure_table_stays_bounded() {
        let t = Throttle::default();
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            t.fail(IpAddr::from(i.to_be_bytes()));
        }
        let held = t.failures.lock().map(|f| f.len()).unwrap_or(0);
        assert_eq!(held, MAX_ADDRESSES);
    }

    #[test]
    fn sessions_are_random_tokens_and_end() {
        let s = Sessions::default();
        let (a, b) = (s.start(), s.start());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(s.valid(&a) && s.valid(&b));
        s.end(&a);
        assert!(!s.valid(&a) && s.valid(&b));
        assert!(!s.valid("guess"));
    }
}
