//! Every end-to-end test, in one binary (one link of the inlet library
//! instead of one per file). Each file is a module, so tests are named
//! `<file>::<test>`: `cargo xtask test -- postgres::` runs one file.
//! The harness is `inlet_tests::harness`; a test carries
//! `#[inlet_tests::test]`.

mod alerts;
mod api;
mod csv;
mod discovery_jobs;
mod dynamodb;
mod events;
mod excel;
mod health;
mod http_api;
mod json;
mod jwt;
mod keys;
mod mysql;
mod parquet;
mod plugin_check;
mod plugins;
mod pools;
mod postgres;
mod reading;
mod redis;
mod registration;
mod s3;
mod sandbox;
mod sandbox_budgets;
mod sandbox_values;
mod schemathesis;
mod security;
mod security_files;
mod security_matrix;
mod serve;
mod ssh;
mod storage;
mod storage_s3;
mod tunnel_lib;

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
