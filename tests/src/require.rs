//! The one rule for what a test needs from the machine: a service on
//! loopback, a tool on PATH, or any other condition. When it is missing, the
//! test stops here and the harness reports it as *ignored* with the reason;
//! with `INLET_REQUIRE_SERVICES=1` (as in CI) it fails instead, so that CI
//! never passes a test that did not run.
//!
//! ```no_run
//! use inlet_tests::require::{self, Service};
//! require::service(Service::Postgres);
//! require::tool("psql");
//! require::that(std::path::Path::new("/run/sshd").exists(), "sshd's privilege separation directory");
//! ```

use std::fmt::Display;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::harness::Skip;

/// The shared servers the tests use, each on its usual loopback port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    MariaDb,
    Redis,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::MariaDb => "MariaDB",
            Service::Redis => "Redis",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::MariaDb => 3306,
            Service::Redis => 6379,
        }
    }
}

/// The service answers on 127.0.0.1 at its port.
#[track_caller]
pub fn service(service: Service) {
    let port = service.port();
    let up = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok();
    that(up, format_args!("{} on 127.0.0.1:{port}", service.name()));
}

/// The executable is on PATH (or exists, for an absolute path).
#[track_caller]
pub fn tool(tool: &str) {
    that(tool_installed(tool), format_args!("the `{tool}` command"));
}

/// Whether an executable is on PATH (or exists, for an absolute path), for
/// tests that choose between tools rather than require one.
pub fn tool_installed(tool: &str) -> bool {
    if Path::new(tool).is_absolute() {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).exists()))
}

/// `condition` holds; `what` names what is missing when it does not
/// (e.g. "pyarrow for python3 (python3 -m pip install pyarrow)").
#[track_caller]
pub fn that(condition: bool, what: impl Display) {
    if condition {
        return;
    }
    if std::env::var("INLET_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("this test needs {what}, which is missing here, and INLET_REQUIRE_SERVICES=1");
    }
    std::panic::panic_any(Skip(format!("needs {what}")));
}

/// Stops a test that does not apply to this machine (not a missing service:
/// it is skipped in CI too), e.g. a plain-text check against a server that
/// only speaks TLS.
pub fn skip(reason: impl Display) -> ! {
    std::panic::panic_any(Skip(reason.to_string()))
}
