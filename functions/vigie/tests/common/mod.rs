//! `vigie serve` as a child process on the tiny test model, for the tests that talk to it
//! from outside (raw sockets, kill -9).

#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How long a test waits for something that should happen, at most: generous, so a slow
/// machine never fails a test; `VIGIE_TEST_WAIT_SECS` changes it.
pub fn patience() -> Duration {
    let secs = std::env::var("VIGIE_TEST_WAIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    Duration::from_secs(secs)
}

/// Polls `done` until it holds; panics with `what` after `patience()`.
pub async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let limit = tokio::time::Instant::now() + patience();
    while !done().await {
        assert!(
            tokio::time::Instant::now() < limit,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn demo_env() -> Vec<(String, String)> {
    std::fs::read_to_string(root().join("config/demo.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// Adds a user who may administer every sample brand to `db` (the `vigie user` commands)
/// and returns an API token of theirs, for the review API.
pub fn reviewer_token(db: &Path) -> String {
    let vigie = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(args)
            .arg("--db")
            .arg(db)
            .env("VIGIE_PASSWORD", "correct horse battery staple")
            .current_dir(root())
            .output()
            .expect("vigie runs");
        assert!(
            out.status.success(),
            "vigie {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    vigie(&[
        "user",
        "add",
        "tester",
        "--role",
        "acme=admin",
        "--role",
        "globex=admin",
    ]);
    vigie(&["user", "token", "add", "tester", "--label", "tests"])
        .trim()
        .to_owned()
}

/// The comments of a review API inbox page.
pub fn listed(page: &serde_json::Value) -> Vec<serde_json::Value> {
    page["items"]
        .as_array()
        .expect("an inbox page")
        .iter()
        .map(|i| i["comment"].clone())
        .collect()
}

pub const APP_SECRET: &str = "demo-meta-app-secret";
pub const ACME_PAGE: &str = "100200300400500";

/// A running `vigie serve`; killed (SIGKILL) when dropped.
pub struct Serve {
    child: Child,
    pub addr: SocketAddr,
}

impl Serve {
    /// Starts `vigie serve` on `db` on a free port with the sample brands, the tiny model
    /// and `extra` arguments; returns once it listens.
    pub fn start(db: &Path, chat_hook: &str, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args([
                "serve",
                "--config",
                "config/brands.toml",
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--db")
            .arg(db)
            .args(extra)
            .current_dir(root())
            .envs(demo_env())
            .env("ACME_NOTIFY_URL", chat_hook)
            .env("VIGIE_MODEL_DIR", root().join("model/testdata/tiny"))
            .env("VIGIE_THREADS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigie serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("serving on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.parse::<SocketAddr>());
                }
                eprintln!("[vigie serve] {line}");
            }
        });
        let addr = rx
            .recv_timeout(patience())
            .expect("vigie serve reports its address")
            .expect("a socket address");
        Serve { child, addr }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// kill -9: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chat webhook on loopback that answers 200 to anything.
pub fn chat_hook() -> String {
    recording_chat_hook().0
}

/// A chat webhook on loopback that answers 200 to anything and keeps each body it receives
/// (parsed as JSON; a body that is not JSON is kept as a string), for the test to check
/// outside the handler.
pub fn recording_chat_hook() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
                });
                sink.lock().unwrap().push(value);
                let mut s = stream;
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            });
        }
    });
    (url, got)
}

/// A signed Facebook delivery of one comment on Acme's page: (body, signature).
pub fn delivery(comment_id: &str, text: &str) -> (Vec<u8>, String) {
    let body = serde_json::json!({"object": "page", "entry": [{"id": ACME_PAGE, "time": 1764086400, "changes": [{"field": "feed", "value": {
        "from": {"id": "5000001", "name": "Test Client"},
        "message": text, "post_id": format!("{ACME_PAGE}_1"), "comment_id": comment_id,
        "created_time": 1764086400, "item": "comment", "parent_id": format!("{ACME_PAGE}_1"), "verb": "add"}}]}]})
    .to_string()
    .into_bytes();
    let signature = vigie_core::platforms::meta::signature(APP_SECRET.as_bytes(), &body);
    (body, signature)
}
