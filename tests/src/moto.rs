//! `moto_server` (PyPI `moto[server]`) for the AWS connectors' tests
//! (dynamodb, s3, and the host's S3 storage): one server per test on a free
//! port of 127.0.0.1, a fixture script run against it with boto3 (which
//! comes with moto), the server stopped when dropped.
//!
//! A fixture usually ends by switching moto's authentication on
//! ([`PY_HELPERS`]' `enable_auth`, i.e. `POST /moto-api/reset-auth` with
//! `0`): from then on moto checks every request's SigV4 signature against
//! the user's secret and its IAM policy, as AWS does.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, require};

/// Python helpers a fixture can start with: `kw(endpoint)` (boto3 client
/// arguments with moto's root credentials), `user(iam, name, actions)` (an
/// IAM user with an inline policy allowing `actions` on everything; returns
/// its key as a dict) and `enable_auth(endpoint)`.
pub const PY_HELPERS: &str = r#"
import json, urllib.request

def kw(endpoint):
    return dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

def user(iam, name, actions):
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

def enable_auth(endpoint):
    urllib.request.urlopen(urllib.request.Request(
        endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})).read()
"#;

/// Requires `moto_server` and `python3` (see [`crate::require`]).
#[track_caller]
pub fn require() {
    require::tool("moto_server");
    require::tool("python3");
}

/// A running `moto_server`, killed when dropped.
pub struct MotoServer {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl MotoServer {
    /// Starts a server on a free port and waits (60 s at most) until it listens.
    pub fn start() -> MotoServer {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut server = MotoServer { child, port, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(server.child.try_wait().expect("moto_server status").is_none(), "moto_server exited");
            assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Runs `python3 -c <script> <url>` with `env`; the JSON it prints.
    pub fn fixture(&self, script: &str, env: &[(&str, &str)]) -> Value {
        let output = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&self.url)
            .envs(env.iter().copied())
            .output()
            .expect("run the fixture");
        assert!(output.status.success(), "fixture failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("the fixture prints JSON")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The access keys a fixture printed, by user
/// (`{"<user>": {"access_key_id", "secret_access_key", "session_token"?}}`).
pub struct AwsKeys(pub Value);

impl AwsKeys {
    /// `base` with `user`'s access key id and then `extra` merged in.
    pub fn config(&self, user: &str, mut base: Value, extra: Value) -> Value {
        if let Some(config) = base.as_object_mut() {
            config.insert("access_key_id".into(), self.0[user]["access_key_id"].clone());
            if let Value::Object(extra) = extra {
                config.extend(extra);
            }
        }
        base
    }

    /// `user`'s secret, as the connector's secrets.
    pub fn secrets(&self, user: &str) -> Value {
        serde_json::json!({ "secret_access_key": self.0[user]["secret_access_key"] })
    }

    /// One user's keys.
    pub fn of(&self, user: &str) -> &Value {
        &self.0[user]
    }
}
