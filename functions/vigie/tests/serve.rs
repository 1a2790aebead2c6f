//! `vigie serve` end to end: the sample deliveries replayed, classified with the real
//! model, escalated, posted to a chat webhook, and listed by the review API.

mod common;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::root;

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

/// How long to wait for a condition before failing: `VIGIE_TEST_WAIT_SECS`, default 300 s,
/// far beyond what loading the model and draining the queues take on a slow machine.
fn wait_limit() -> Duration {
    let secs = std::env::var("VIGIE_TEST_WAIT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Starts `vigie serve` on port 0 and returns it with the address it reports once it listens
/// (after loading the model). Its stderr is drained and echoed to the test's.
fn serve(args: &[&std::ffi::OsStr], env: &[(String, String)]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(root())
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("vigie serve: {line}");
            if let Some(rest) = line.strip_prefix("vigie serving on ") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let limit = wait_limit();
    let base = rx.recv_timeout(limit).unwrap_or_else(|e| {
        panic!("vigie serve reported no address within {limit:?} (VIGIE_TEST_WAIT_SECS): {e}")
    });
    (server, base)
}

async fn get(url: &str, token: &str) -> Option<serde_json::Value> {
    let res = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_deliveries_are_classified_escalated_notified_and_listed() {
    let Some(model) = model_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (hook, posted) = common::recording_chat_hook();
    let mut env = demo_env();
    env.push(("ACME_NOTIFY_URL".into(), hook));
    let db = dir.path().join("vigie.db");
    // the sample brands' content, as a manager imports it
    let import = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["brand", "import", "samples/brands", "--db"])
        .arg(&db)
        .arg("--model-dir")
        .arg(&model)
        .current_dir(root())
        .envs(demo_env())
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let imported = String::from_utf8_lossy(&import.stdout);
    assert!(
        imported.contains("acme: content version 1")
            && imported.contains("globex: content version 1"),
        "{imported}"
    );
    // a manager of both brands, as `vigie user` makes one, with a token for the API
    let token = common::reviewer_token(&db);
    let (server, base) = serve(
        &[
            "--config".as_ref(),
            "config/brands.toml".as_ref(),
            "--db".as_ref(),
            db.as_os_str(),
            "--model-dir".as_ref(),
            model.as_os_str(),
        ],
        &env,
    );
    let limit = wait_limit();
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < limit,
            "{base}/healthz did not answer within {limit:?}"
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
            "--wait-secs",
            &limit.as_secs().to_string(),
            "--token",
            &token,
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
    assert_eq!(out.matches(" 200 OK ").count(), 8, "{out}");
    assert!(
        out.contains("Acme Mode (acme): open comments, most urgent first"),
        "{out}"
    );

    let acme = common::listed(
        &get(&format!("{base}/api/brands/acme/comments"), &token)
            .await
            .expect("listing"),
    );
    assert_eq!(
        acme.len(),
        12,
        "12 customer comments and messages (Facebook, Messenger, Instagram, X, LinkedIn, \
         TikTok); the brand's own replies are not listed"
    );
    let platforms: std::collections::BTreeSet<&str> = acme
        .iter()
        .map(|c| c["key"]["platform"].as_str().unwrap())
        .collect();
    assert_eq!(
        platforms.into_iter().collect::<Vec<_>>(),
        ["facebook", "instagram", "linkedin", "tiktok", "x"]
    );
    let private = acme.iter().filter(|c| c["private"] == true).count();
    assert_eq!(private, 2, "the Messenger conversation's two messages");
    let first = &acme[0];
    assert!(
        first["text"].as_str().unwrap().contains("pris feu"),
        "{first}"
    );
    assert_eq!(first["triage"]["urgency"]["tier"], "P1");
    // read by the model's heads: an intent, a confident risk signal with its nearest
    // labelled examples, the learned probability in the evidence, the embedding kept
    let understanding = &first["triage"]["understanding"];
    assert!(understanding["intent"].is_string(), "{understanding}");
    assert!(
        understanding["signals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| {
                s["probability"].as_f64().unwrap() >= s["threshold"].as_f64().unwrap()
                    && s["examples"].as_array().is_some_and(|e| !e.is_empty())
            }),
        "{understanding}"
    );
    assert!(
        first["triage"]["urgency"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["evidence"].as_str().unwrap().contains("learned P = ")),
        "{first}"
    );
    assert!(
        first["triage"].get("embedding").is_none(),
        "kept for drafting, never shown: {first}"
    );
    let scores: Vec<u64> = acme
        .iter()
        .map(|c| c["triage"]["urgency"]["score"].as_u64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let question = acme
        .iter()
        .find(|c| c["text"].as_str().is_some_and(|t| t.contains("dimanche")))
        .unwrap();
    assert_eq!(question["triage"]["urgency"]["escalate"], false);

    // reply suggestions: drafted once classified, in the brand's voice, every check passed
    let detail = |c: &serde_json::Value| {
        format!(
            "{base}/api/brands/acme/comments/{}/{}",
            c["key"]["platform"].as_str().unwrap(),
            c["key"]["external_id"].as_str().unwrap()
        )
    };
    let q = get(&detail(question), &token).await.unwrap();
    let drafts = &q["drafts"];
    assert_eq!(drafts["action"], "reply_public", "{q}");
    assert_eq!(drafts["content_version"], 1);
    assert_eq!(drafts["comment_version"], q["version"]);
    let suggestions = drafts["suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty(), "{drafts}");
    for s in suggestions {
        let text = s["text"].as_str().unwrap();
        assert!(text.ends_with("\n\nL'équipe Acme Mode"), "{text}");
        assert!(
            s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["passed"] == true),
            "{s}"
        );
    }
    let fire = get(&detail(first), &token).await.unwrap();
    assert_eq!(fire["drafts"]["action"], "escalate", "{fire}");
    let globex = common::listed(
        &get(&format!("{base}/api/brands/globex/comments"), &token)
            .await
            .unwrap(),
    );
    assert!(globex.iter().any(|c| c["source"] == "trustpilot"));

    // Acme's escalations reach its chat webhook, one message each; Globex has none configured.
    // Each event is posted before its message leaves the queue, so once the escalation queue
    // is empty every post has arrived and no other will.
    let started = Instant::now();
    loop {
        let m = get(&format!("{base}/metrics"), "").await;
        let queue = m.as_ref().map(|m| &m["queues"]["escalations"]);
        if queue.is_some_and(|q| q["waiting"] == 0) {
            assert_eq!(queue.unwrap()["dead_letters"], 0, "no escalation failed");
            break;
        }
        assert!(
            started.elapsed() < limit,
            "the escalation queue did not drain within {limit:?}: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posted = posted.lock().unwrap().clone();
    let escalated: Vec<&str> = acme
        .iter()
        .filter(|c| c["triage"]["urgency"]["escalate"] == true)
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert!(!escalated.is_empty(), "the samples hold urgent comments");
    assert_eq!(posted.len(), escalated.len(), "{posted:?}");
    for text in &escalated {
        let quoting = posted
            .iter()
            .filter(|p| p["text"].as_str().unwrap().ends_with(&format!(": {text}")))
            .count();
        assert_eq!(quoting, 1, "one chat message for {text:?}: {posted:?}");
    }
    assert!(
        posted
            .iter()
            .all(|p| p["text"].as_str().unwrap().contains("acme on")),
        "{posted:?}"
    );

    let metrics = get(&format!("{base}/metrics"), "").await.unwrap();
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
