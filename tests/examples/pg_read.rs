//! The native baseline of `cargo xtask bench reading`: reads every row of a
//! statement with tokio-postgres (binary protocol, one unnamed portal, rows
//! streamed) and touches each value's raw bytes without decoding them, the
//! least work a Rust client can do with the same rows. Prints
//! `rows=N bytes=B ms=T` (T from the query's start to its last row).
//!
//! `cargo run --release -p inlet-tests --example pg_read -- DATABASE STATEMENT`

use std::time::Instant;

use futures_util::StreamExt;
use tokio_postgres::types::{FromSql, Type};

/// Any value, as the bytes the server sent.
struct Raw(usize);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.len()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(database), Some(statement)) = (args.next(), args.next()) else {
        return Err("usage: pg_read DATABASE STATEMENT".into());
    };
    let config = format!("host=127.0.0.1 port=5432 user=postgres dbname={database}");
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let started = Instant::now();
    let stream = client.query_raw(statement.as_str(), std::iter::empty::<i32>()).await?;
    tokio::pin!(stream);
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(row) = stream.next().await {
        let row = row?;
        for index in 0..row.len() {
            let value: Option<Raw> = row.try_get(index)?;
            bytes += value.map_or(0, |raw| raw.0 as u64);
        }
        rows += 1;
    }
    println!("rows={rows} bytes={bytes} ms={:.1}", started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
