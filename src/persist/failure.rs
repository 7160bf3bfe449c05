//! Database errors as callmeter reports them: a binding's error wrapped into
//! [`Error::Storage`](crate::Error::Storage) with what was being done, and a database named without
//! its secrets.

use crate::base::error::Error;

/// Turns a SQLite error on `path` into [`Error::Storage`](crate::Error::Storage) saying what was being done.
pub(crate) fn storage(
    path: &std::path::Path,
    context: &'static str,
) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Storage {
        path,
        context,
        source: Box::new(source),
    }
}

/// A PostgreSQL connection string without its password (or anything else but where it leads), to
/// name the database in errors: `postgres://user@host:port/dbname`. Parsed as the client parses it
/// (URLs with the password in the user part or the query, and `key=value` strings), so no form of it
/// passes through; one that cannot be parsed is not shown at all.
#[cfg(feature = "postgres")]
pub(crate) fn redacted(conn: &str) -> String {
    use std::fmt::Write as _;
    let Ok(config) = conn.parse::<postgres::Config>() else {
        return "(a PostgreSQL connection string that cannot be read)".to_owned();
    };
    let mut shown = String::from("postgres://");
    if let Some(user) = config.get_user() {
        let _ = write!(shown, "{user}@");
    }
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        if i > 0 {
            shown.push(',');
        }
        match host {
            postgres::config::Host::Tcp(name) => shown.push_str(name),
            postgres::config::Host::Unix(path) => {
                let _ = write!(shown, "{}", path.display());
            }
        }
        if let Some(port) = ports.get(i).or(if ports.len() == 1 {
            ports.first()
        } else {
            None
        }) {
            let _ = write!(shown, ":{port}");
        }
    }
    if let Some(db) = config.get_dbname() {
        let _ = write!(shown, "/{db}");
    }
    shown
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::redacted;

    const SECRET: &str = "s3cret";

    /// Every form of connection string `postgres` accepts names the database without its password.
    #[test]
    fn no_form_of_connection_string_shows_its_password() {
        for (conn, shown) in [
            (
                "postgres://alice:s3cret@db.internal:5433/meter",
                "postgres://alice@db.internal:5433/meter",
            ),
            (
                "postgresql://alice@db.internal/meter?password=s3cret",
                "postgres://alice@db.internal:5432/meter",
            ),
            (
                "postgres://alice:s%33cret@db.internal/meter",
                "postgres://alice@db.internal:5432/meter",
            ),
            (
                "host=db.internal port=5433 user=alice password=s3cret dbname=meter",
                "postgres://alice@db.internal:5433/meter",
            ),
            (
                "host=db.internal user=alice password='s3cret with spaces' dbname=meter",
                "postgres://alice@db.internal/meter",
            ),
            (
                "postgres:///meter?host=/run/postgresql&password=s3cret",
                "postgres:///run/postgresql/meter",
            ),
            ("host=a,b port=1,2 password=s3cret", "postgres://a:1,b:2"),
            // Not readable: shown not at all.
            (
                "host=db.internal password='s3cret",
                "(a PostgreSQL connection string that cannot be read)",
            ),
            (
                "mysql://alice:s3cret@db.internal/meter",
                "(a PostgreSQL connection string that cannot be read)",
            ),
        ] {
            let out = redacted(conn);
            assert!(!out.contains(SECRET), "{conn} shown as {out}");
            assert_eq!(out, shown, "{conn}");
        }
    }
}
