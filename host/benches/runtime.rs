//! Runtime figures for the README (`cargo xtask bench`):
//! - instantiation from `InstancePre` (target: under 1 ms);
//! - plugin load: from the on-disk compiled cache vs. compiling;
//! - a Postgres `connect + test` through the wasm connector vs. the same
//!   round trips from tokio-postgres (target: within 1.5×).
//!
//! Needs `cargo xtask build` first; the Postgres pair needs a server on
//! 127.0.0.1:5432 with trust auth for user `postgres` and is skipped otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use inlet::plugin::Secrets;
use inlet::runtime::{ConnectInput, Runtime, RuntimeConfig};
use inlet::sandbox::Grants;
use serde_json::json;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn runtime(cache: &Path) -> Runtime {
    Runtime::new(RuntimeConfig::new(cache.to_path_buf(), 1024)).expect("runtime")
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio")
}

fn instantiation(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = runtime(cache.path());
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("instantiate");
    for plugin in ["postgres", "csv"] {
        let dir = workspace().join("target/plugins").join(plugin);
        let Ok(loaded) = runtime.load_plugin(&dir) else {
            eprintln!("skipping {plugin}: not built (cargo xtask build)");
            continue;
        };
        group.bench_function(format!("{plugin} from InstancePre"), |b| {
            b.to_async(&rt).iter(|| async {
                loaded.instantiate(&Grants::default(), Duration::from_secs(5)).await.expect("instantiate")
            })
        });
    }
    group.finish();
}

fn plugin_load(c: &mut Criterion) {
    let dir = workspace().join("target/plugins/postgres");
    if !dir.join("plugin.wasm").exists() {
        eprintln!("skipping plugin load: postgres plugin not built");
        return;
    }
    let mut group = c.benchmark_group("load postgres plugin");
    group.sample_size(10);
    group.bench_function("compile (cold, no cache)", |b| {
        b.iter_with_setup(
            || tempfile::tempdir().expect("temp dir"),
            |cache| runtime(cache.path()).load_plugin(&dir).expect("load"),
        )
    });
    let warm = tempfile::tempdir().expect("temp dir");
    runtime(warm.path()).load_plugin(&dir).expect("warm the cache");
    let engine_runtime = runtime(warm.path());
    group.bench_function("from on-disk cache", |b| b.iter(|| engine_runtime.load_plugin(&dir).expect("load")));
    group.finish();
}

fn postgres_round_trips(c: &mut Criterion) {
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        eprintln!("skipping postgres: no server on 127.0.0.1:5432");
        return;
    }
    let dir = workspace().join("target/plugins/postgres");
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = runtime(cache.path());
    let Ok(plugin) = runtime.load_plugin(&dir) else {
        eprintln!("skipping postgres: plugin not built");
        return;
    };
    let rt = tokio_runtime();
    let config = json!({"host": "127.0.0.1", "port": 5432, "database": "postgres", "username": "postgres", "ssl_mode": "disable"});
    let secrets = Secrets::new();
    let grants = Grants { tcp: vec!["127.0.0.1:5432".parse().expect("addr")], ..Grants::default() };
    let input = ConnectInput {
        source_type: "postgresql",
        config: &config,
        secrets: &secrets,
        endpoint: Some("127.0.0.1:5432".parse().expect("addr")),
        connect_timeout: Duration::from_secs(10),
        query_timeout: Duration::from_secs(10),
    };
    let mut group = c.benchmark_group("postgres connect + test");
    group.bench_function("wasm connector", |b| {
        b.to_async(&rt).iter(|| async {
            let mut session = plugin.connect(&input, &grants).await.expect("connect");
            let report = session.test().await.expect("test");
            session.close().await;
            report
        })
    });
    group.bench_function("native tokio-postgres", |b| {
        b.to_async(&rt).iter(|| async {
            let (client, connection) = tokio_postgres::connect(
                "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                tokio_postgres::NoTls,
            )
            .await
            .expect("connect");
            let driver = tokio::spawn(connection);
            for query in NATIVE_TEST_QUERIES {
                client.simple_query(query).await.expect("query");
            }
            drop(client);
            let _ = driver.await;
        })
    });
    group.finish();
}

/// The round trips the connector's `test` makes after login (see
/// plugins/postgres/src/{lib,catalog}.rs): the version, then the privileges.
const NATIVE_TEST_QUERIES: &[&str] = &[
    "SELECT pg_catalog.version()",
    "SELECT pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CONNECT'), \
     pg_catalog.has_schema_privilege('pg_catalog', 'USAGE'), \
     (SELECT count(*) FROM pg_catalog.pg_namespace n \
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
         AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
         AND pg_catalog.has_schema_privilege(n.nspname, 'USAGE'))",
];

fn config() -> Criterion {
    // Two cores: shorter windows keep `cargo xtask bench` to a few minutes.
    Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = instantiation, plugin_load, postgres_round_trips
}
criterion_main!(benches);
