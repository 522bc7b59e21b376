//! `inlet serve` starts, loads the built plugins, and answers `/healthz`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inlet_tests::{free_port, inlet_bin, workspace_root};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[inlet_tests::test]
fn serve_answers_healthz_with_the_loaded_plugins() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = Command::new(inlet_bin())
        .arg("serve")
        .env("INLET_BIND", format!("127.0.0.1:{port}"))
        .env("INLET_DATA_DIR", data.path())
        .env("INLET_PLUGINS_DIR", workspace_root().join("target/plugins"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start inlet serve");
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = loop {
        match get(port, "/healthz") {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(error) => panic!("inlet serve did not answer: {error}"),
        }
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).expect("body");
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(json["status"], "ok");
    let ids: Vec<&str> = json["plugins"].as_array().expect("plugins").iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"postgres") && ids.contains(&"csv"), "{ids:?}");
    // Compiled components were cached in the data dir.
    let cached = std::fs::read_dir(data.path().join("cache/components")).expect("cache dir").count();
    assert!(cached >= 2, "{cached} artifacts cached");
}
