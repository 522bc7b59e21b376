//! The catalog fixture (`tests/fixtures/postgres/catalog.sql`) in a fresh
//! database on the local PostgreSQL (127.0.0.1:5432, trust auth).

use std::process::Command;

/// Runs psql as `postgres` against `database`; panics with psql's stderr on failure.
pub fn psql(database: &str, args: &[&str]) {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .output()
        .expect("run psql");
    assert!(output.status.success(), "psql {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A fresh database loaded with the catalog fixture, dropped on Drop.
pub struct FixtureDb(pub String);

impl FixtureDb {
    /// `inlet_<prefix>_<tag>_<pid>`, so parallel test binaries never collide.
    pub fn create(prefix: &str, tag: &str) -> Self {
        let name = format!("inlet_{prefix}_{tag}_{}", std::process::id());
        psql("postgres", &["-c", &format!("DROP DATABASE IF EXISTS {name}")]);
        psql("postgres", &["-c", &format!("CREATE DATABASE {name}")]);
        let fixture = crate::workspace_root().join("tests/fixtures/postgres/catalog.sql");
        psql(&name, &["-f", &fixture.to_string_lossy()]);
        Self(name)
    }
}

impl Drop for FixtureDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-q", "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0))
            .output();
    }
}
