//! `vigie serve` end to end: the sample deliveries replayed, classified with the real
//! model, escalated, posted to a chat webhook, and listed by the review API.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_dir() -> Option<PathBuf> {
    let dir = root().join("model/dist");
    if dir.join("model.json").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("VIGIE_REQUIRE_FULL_MODEL").as_deref() != Ok("1"),
        "model/dist holds no model: run scripts/build-model"
    );
    eprintln!("skipped: no built model in model/dist");
    None
}

fn demo_env() -> Vec<(String, String)> {
    std::fs::read_to_string(root().join("config/demo.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chat webhook on loopback that records the bodies it receives.
fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
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
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            sink.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let mut s = stream;
            std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
            )
            .unwrap();
        }
    });
    (url, got)
}

async fn get(url: &str) -> Option<serde_json::Value> {
    let res = reqwest::get(url).await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_deliveries_are_classified_escalated_notified_and_listed() {
    let Some(model) = model_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (hook, posted) = receiver();
    let mut env = demo_env();
    env.push(("ACME_NOTIFY_URL".into(), hook));
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args([
                "serve",
                "--config",
                "config/brands.toml",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--db")
            .arg(dir.path().join("vigie.db"))
            .arg("--model-dir")
            .arg(&model)
            .current_dir(root())
            .envs(env.clone())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "vigie serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let replay = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "replay",
            "samples/deliveries",
            "--config",
            "config/brands.toml",
            "--show",
            "--url",
            &base,
        ])
        .current_dir(root())
        .envs(env)
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(out.matches(" 200 OK ").count(), 4, "{out}");
    assert!(
        out.contains("Acme Mode (acme): open comments, most urgent first"),
        "{out}"
    );

    let acme = get(&format!("{base}/api/brands/acme/comments"))
        .await
        .expect("listing");
    let acme = acme.as_array().unwrap();
    assert_eq!(
        acme.len(),
        6,
        "6 customer comments; the page's own reply is not listed"
    );
    let first = &acme[0];
    assert!(
        first["text"].as_str().unwrap().contains("pris feu"),
        "{first}"
    );
    assert_eq!(first["triage"]["urgency"]["tier"], "P1");
    let scores: Vec<u64> = acme
        .iter()
        .map(|c| c["triage"]["urgency"]["score"].as_u64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let question = acme
        .iter()
        .find(|c| c["text"].as_str().unwrap().contains("dimanche"))
        .unwrap();
    assert_eq!(question["triage"]["urgency"]["escalate"], false);
    let globex = get(&format!("{base}/api/brands/globex/comments"))
        .await
        .unwrap();
    assert!(
        globex
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["source"] == "trustpilot")
    );

    // Acme's escalations reach its chat webhook; Globex has none configured.
    let started = Instant::now();
    while posted.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posted = posted.lock().unwrap().clone();
    assert!(!posted.is_empty());
    assert!(
        posted
            .iter()
            .all(|p| p["text"].as_str().unwrap().contains("acme on")),
        "{posted:?}"
    );

    let metrics = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(metrics["queues"]["classify"]["waiting"], 0);
    assert_eq!(metrics["queues"]["classify"]["dead_letters"], 0);
    assert!(
        metrics["counters"]["comment_received,platform=facebook,kind=created"]
            .as_u64()
            .unwrap()
            >= 4
    );
    drop(server);
}
