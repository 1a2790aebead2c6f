//! The `vigie` binary end to end, on the tiny test model.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vigie(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .current_dir(root())
        .env("VIGIE_MODEL_DIR", root().join("model/testdata/tiny"))
        .env("VIGIE_THREADS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigie runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The project venv's Python (`VIGIE_VENV`, else `<workspace>/.venv`), or `None` (with a
/// note) when it is missing; with `VIGIE_REQUIRE_VENV=1` (scripts/test, CI) that fails.
fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("VIGIE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var("VIGIE_REQUIRE_VENV").as_deref() != Ok("1"),
        "{} is missing: run scripts/setup-python",
        python.display()
    );
    None
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn classify_arguments_prints_one_json_line_per_text() {
    let rows = jsonl(&vigie(
        &[
            "classify",
            "Merci pour tout !",
            "Colis perdu, aucune réponse",
        ],
        None,
    ));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["text"], "Merci pour tout !");
    for row in &rows {
        let label = row["label"].as_str().unwrap();
        assert!(["negative", "neutral", "positive"].contains(&label));
        let p = &row["probabilities"];
        let sum: f64 = ["negative", "neutral", "positive"]
            .iter()
            .map(|k| p[k].as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert_eq!(row["confidence"], p[label]);
        assert!(
            row["model"]
                .as_str()
                .unwrap()
                .starts_with("vigie-sentiment-tiny-")
        );
        // the tiny model has heads: an intent, and the signals that count with evidence
        let intent = row["intent"].as_str().unwrap();
        assert!(
            vigie_core::understanding::Intent::parse(intent).is_some(),
            "{row}"
        );
        let p = row["intent_probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
        let signals = row["signals"].as_array().unwrap();
        for s in signals {
            let r: vigie_core::understanding::SignalReading =
                serde_json::from_value(s.clone()).unwrap();
            assert!(r.strength() > 0.0 && !r.examples.is_empty(), "{s}");
        }
        let probs: Vec<f64> = signals
            .iter()
            .map(|s| s["probability"].as_f64().unwrap())
            .collect();
        assert!(
            probs.windows(2).all(|w| w[0] >= w[1]),
            "most probable first"
        );
    }
}

#[test]
fn classify_reads_stdin_lines_and_skips_empty_ones() {
    let out = vigie(&["classify"], Some("Super\n\nNul\n"));
    let rows = jsonl(&out);
    assert_eq!(
        rows.iter()
            .map(|r| r["text"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Super", "Nul"]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin line 2: empty text skipped"));
}

#[test]
fn classify_input_file_keeps_other_fields_and_flags_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("comments.jsonl");
    let long = "très long commentaire ".repeat(30);
    std::fs::write(
        &input,
        format!("{{\"id\":\"c1\",\"text\":\"Bravo\"}}\n{{\"id\":\"c2\",\"text\":\"{long}\"}}\n"),
    )
    .unwrap();
    let out = vigie(&["classify", "--input", input.to_str().unwrap()], None);
    let rows = jsonl(&out);
    assert_eq!(rows[0]["id"], "c1");
    assert_eq!(rows[1]["id"], "c2");
    assert!(rows[0].get("truncated").is_none());
    assert_eq!(rows[1]["truncated"], true);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("comments.jsonl:2: longer than the model's 24 tokens")
    );
}

#[test]
fn classify_names_the_line_of_a_bad_input_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"text\":\"ok\"}\n{\"body\":\"no text\"}\n").unwrap();
    let out = vigie(&["classify", "--input", input.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.jsonl:2: no \"text\" string field"));
}

#[test]
fn a_missing_model_fails_with_the_build_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["classify", "x", "--model-dir", "/nonexistent/model"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("scripts/build-model"));
}

fn labelled(dir: &Path) -> PathBuf {
    let data = dir.join("labelled.jsonl");
    let rows = [
        ("Merci, parfait", "positive", "fr"),
        ("Horrible, jamais plus", "negative", "fr"),
        ("Ouvert dimanche ?", "neutral", "fr"),
        ("Love it", "positive", "en"),
        ("Broken on arrival", "negative", "en"),
    ];
    let body: String = rows
        .iter()
        .map(|(t, l, lang)| format!("{{\"text\":\"{t}\",\"label\":\"{l}\",\"lang\":\"{lang}\"}}\n"))
        .collect();
    std::fs::write(&data, body).unwrap();
    data
}

#[test]
fn eval_reports_figures_per_language() {
    let dir = tempfile::tempdir().unwrap();
    let data = labelled(dir.path());
    let out = vigie(
        &[
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--by",
            "lang",
            "--json",
        ],
        None,
    );
    let doc = json(&out);
    let groups = &doc["groups"];
    assert_eq!(groups["fr"]["n"], 3);
    assert_eq!(groups["en"]["n"], 2);
    assert_eq!(groups["all"]["n"], 5);
    let confusion: u64 = groups["all"]["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(confusion, 5);
    let table = vigie(
        &["eval", "--data", data.to_str().unwrap(), "--by", "lang"],
        None,
    );
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("macro-F1") && text.contains("confusion"),
        "{text}"
    );
}

#[test]
fn eval_groups_the_customer_service_comments_by_what_makes_them_hard() {
    let dir = root().join("model/sentiment/heldout");
    let (fr, en) = (dir.join("fr.jsonl"), dir.join("en.jsonl"));
    let out = vigie(
        &[
            "eval",
            "--data",
            fr.to_str().unwrap(),
            "--data",
            en.to_str().unwrap(),
            "--by",
            "kind",
            "--json",
        ],
        None,
    );
    let doc = json(&out);
    let groups = doc["groups"].as_object().unwrap();
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for path in [&fr, &en] {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            *want
                .entry(format!(
                    "{}/{}",
                    row["lang"].as_str().unwrap(),
                    row["kind"].as_str().unwrap()
                ))
                .or_default() += 1;
        }
    }
    assert!(want.contains_key("fr/sarcasm") && want.contains_key("en/legal_threat"));
    for (group, n) in &want {
        assert_eq!(groups[group]["n"], *n, "{group}");
    }
    assert_eq!(groups["all"]["n"], want.values().sum::<u64>());
}

#[test]
fn eval_signals_reports_urgency_signals_and_intent_beside_the_phrase_list() {
    let data = root().join("model/testdata/signals-data/heldout");
    let out = vigie(
        &["eval", "--signals", data.to_str().unwrap(), "--json"],
        None,
    );
    let doc = json(&out);
    assert!(doc.get("groups").is_none(), "no sentiment data was given");
    assert!(doc["heads"].as_str().unwrap().starts_with("vigie-signals-"));
    let all = &doc["signals"]["all"];
    let n = all["comments"].as_u64().unwrap();
    assert_eq!(
        n,
        doc["signals"]["fr"]["comments"].as_u64().unwrap()
            + doc["signals"]["en"]["comments"].as_u64().unwrap()
    );
    assert_eq!(all["signals_learned"].as_object().unwrap().len(), 10);
    assert_eq!(all["signals_phrases"].as_object().unwrap().len(), 10);
    // every labelled urgent comment counted once on each side
    assert_eq!(
        all["urgent_learned"]["support"],
        all["urgent_phrases"]["support"]
    );
    let acc = all["intent_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let table = vigie(&["eval", "--signals", data.to_str().unwrap()], None);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("phrases P") && text.contains("violence_threat"),
        "{text}"
    );
}

#[test]
fn eval_signals_names_the_line_of_an_unknown_intent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.jsonl");
    std::fs::write(
        &data,
        "{\"text\":\"x y\",\"lang\":\"fr\",\"intent\":\"joy\",\"signals\":[]}\n",
    )
    .unwrap();
    let out = vigie(&["eval", "--signals", data.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.jsonl:1") && err.contains("unknown intent \"joy\""),
        "{err}"
    );
}

#[test]
fn check_config_warns_when_a_critical_signal_cannot_escalate_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("brands.toml");
    std::fs::write(
        &config,
        r#"
[[brands]]
id = "acme"
name = "Acme"
[brands.urgency]
escalate_at = 50
weights = { legal_threat = 30 }
"#,
    )
    .unwrap();
    let out = vigie(
        &["check-config", "--config", config.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: acme: a confident legal_threat reading alone scores 30"),
        "{text}"
    );
    assert!(!text.contains("safety_risk reading"), "{text}");
}

#[test]
fn eval_rejects_an_unknown_label() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.jsonl");
    std::fs::write(&data, "{\"text\":\"x\",\"label\":\"angry\"}\n").unwrap();
    let out = vigie(&["eval", "--data", data.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("label \"angry\" is not negative, neutral or positive")
    );
}

#[test]
fn bench_measures_rust_and_the_python_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let data = labelled(dir.path());
    let python = venv_python();
    let mut args = vec![
        "bench",
        "--data",
        data.to_str().unwrap(),
        "--texts",
        "5",
        "--json",
    ];
    match &python {
        Some(python) => args.extend(["--python", python.to_str().unwrap()]),
        None => {
            eprintln!(
                "no venv: measuring Rust only (scripts/setup-python makes the baseline available)"
            );
            args.push("--no-baseline");
        }
    }
    let out = vigie(&args, None);
    let doc = json(&out);
    let rounds = doc["rounds"].as_u64().unwrap() as usize;
    for side in ["rust", "python"] {
        if side == "python" && python.is_none() {
            continue;
        }
        let measured = doc[side].as_array().unwrap();
        assert_eq!(measured.len(), rounds, "{side}: one measurement per round");
        for m in measured {
            for b in ["1", "32"] {
                let run = &m["runs"][b];
                assert_eq!(run["texts"], 5, "{side} batch {b}");
                assert!(run["per_second"].as_f64().unwrap() > 0.0);
                assert!(run["p95_ms"].as_f64().unwrap() >= run["p50_ms"].as_f64().unwrap());
            }
            assert!(m["peak_rss_mb"].as_f64().unwrap() > 0.0);
            assert!(m["load_seconds"].as_f64().unwrap() > 0.0);
        }
    }
    let figures = doc["figures"].as_array().unwrap();
    let throughput = figures
        .iter()
        .find(|f| f["figure"] == "batch 32: comments/s")
        .expect("a batch-32 throughput figure");
    assert!(throughput["rust"].as_f64().unwrap() > 0.0);
    assert_eq!(
        throughput["rust_advantage"].is_number(),
        python.is_some(),
        "a ratio exactly when the baseline ran"
    );
}

/// A stand-in for a vigie whose classification never drains: every delivery is accepted and
/// `/metrics` always reports 3 messages waiting.
fn stuck_vigie() -> String {
    use std::io::{BufRead, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let (mut request, mut length) = (String::new(), 0);
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            let body = if request.starts_with("GET /metrics") {
                r#"{"queues":{"classify":{"waiting":3,"dead_letters":0}}}"#
            } else {
                r#"{"stored":1}"#
            };
            let _ = std::io::Write::write_all(
                &mut stream,
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    url
}

#[test]
fn replay_show_fails_when_the_queue_does_not_drain() {
    let url = stuck_vigie();
    let env = std::fs::read_to_string(root().join("config/demo.env")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "replay",
            "samples/deliveries",
            "--config",
            "config/brands.toml",
        ])
        .args(["--url", &url, "--show", "--wait-secs", "1"])
        .current_dir(root())
        .envs(
            env.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once('=')),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the classification queue has not drained after 1 s (3 messages waiting)"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches(" 200 OK ").count(), 8, "{stdout}");
    assert!(!stdout.contains("open comments"), "{stdout}");
}

#[test]
fn draft_prints_the_action_and_checked_suggestions_for_any_comment() {
    let out = vigie(
        &[
            "draft",
            "--brand",
            "acme",
            "--platform",
            "x",
            "--author",
            "Julie Martin",
            "Bonjour, ma commande n'est toujours pas arrivée, ça fait dix jours.",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 1);
    let d = &rows[0];
    assert_eq!(d["brand"], "acme");
    assert_eq!(d["lang"], "fr");
    assert!(
        d["intent"].is_string() && d["action"].is_string() && d["action_reason"].is_string(),
        "{d}"
    );
    for s in d["suggestions"].as_array().unwrap() {
        let text = s["text"].as_str().unwrap();
        assert!(
            text.ends_with("L'équipe Acme Mode") && !text.contains("Martin"),
            "{text}"
        );
        assert!(text.chars().count() <= 280, "X's limit");
        assert!(
            s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["passed"] == true)
        );
    }
    for r in d["rejected"].as_array().map_or(&[][..], |r| r.as_slice()) {
        assert!(
            r["failed"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["passed"] == false && c["detail"].is_string())
        );
    }
    // JSONL on stdin, one object per comment
    let out = vigie(
        &["draft"],
        Some(
            "{\"brand\":\"globex\",\"platform\":\"facebook\",\"text\":\"My fibre has been down since this morning, any news?\"}\n{\"brand\":\"acme\",\"text\":\"Merci pour la robe, elle est parfaite !\"}\n",
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["brand"].as_str(), rows[0]["lang"].as_str()),
        (Some("globex"), Some("en"))
    );
}

#[test]
fn brand_import_names_the_file_and_field_of_a_mistake_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let acme = dir.path().join("acme");
    std::fs::create_dir(&acme).unwrap();
    for f in ["voice.toml", "replies.toml", "facts.toml", "words.txt"] {
        std::fs::copy(root().join("samples/brands/acme").join(f), acme.join(f)).unwrap();
    }
    let replies = std::fs::read_to_string(acme.join("replies.toml")).unwrap();
    std::fs::write(
        acme.join("replies.toml"),
        replies.replacen("écrivez-nous {contact}", "écrivez-nous {email}", 1),
    )
    .unwrap();
    let db = dir.path().join("v.db");
    let out = vigie(
        &[
            "brand",
            "import",
            dir.path().to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("replies.toml: field `replies[") && err.contains("unknown slot {email}"),
        "{err}"
    );
    let export = vigie(
        &[
            "brand",
            "export",
            dir.path().join("out").to_str().unwrap(),
            "--brand",
            "acme",
            "--db",
            db.to_str().unwrap(),
        ],
        None,
    );
    assert!(!export.status.success());
    assert!(String::from_utf8_lossy(&export.stderr).contains("no content stored for acme"));
}

#[test]
fn brand_export_writes_back_every_file_and_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap();
    let import = |folder: &Path| {
        let out = vigie(
            &["brand", "import", folder.to_str().unwrap(), "--db", db],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let export = |folder: &Path| {
        let out = vigie(
            &[
                "brand",
                "export",
                folder.to_str().unwrap(),
                "--brand",
                "acme",
                "--db",
                db,
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(import(&root().join("samples/brands/acme")).contains("acme: content version 1"));
    let first = dir.path().join("first/acme");
    export(&first);
    let files = [
        "voice.toml",
        "replies.toml",
        "facts.toml",
        "words.txt",
        "products.txt",
    ];
    let products = |folder: &Path| -> Vec<String> {
        std::fs::read_to_string(folder.join("products.txt"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    for f in files {
        assert!(first.join(f).is_file(), "{f} exported");
    }
    let shipped = products(&root().join("samples/brands/acme"));
    assert!(!shipped.is_empty());
    assert_eq!(products(&first), shipped);

    assert!(import(&first).contains("acme: content version 2"));
    let second = dir.path().join("second/acme");
    export(&second);
    for f in files {
        assert_eq!(
            std::fs::read_to_string(first.join(f)).unwrap(),
            std::fs::read_to_string(second.join(f)).unwrap(),
            "{f} reads back the same"
        );
    }
}

/// `vigie brand import --table` stores a deployment's content in its DynamoDB table (moto
/// here), where the draft function reads it; `export --table` reads it back.
#[tokio::test]
async fn brand_import_and_export_reach_a_deployments_dynamodb_table() {
    use vigie_core::ports::BrandContentStore;
    let Some(moto) = vigie_tests::moto::moto() else {
        return;
    };
    let conf = moto.sdk_config().await;
    let table = vigie_tests::moto::unique("vigie-content");
    let client = aws_sdk_dynamodb::Client::new(&conf);
    vigie_aws::TableSpec::create(&client, &table).await.unwrap();
    let aws_env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let run = |args: Vec<String>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigie"));
        cmd.args(&args)
            .current_dir(root())
            .env("VIGIE_MODEL_DIR", root().join("model/testdata/tiny"))
            .env("VIGIE_THREADS", "1");
        for (k, v) in aws_env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let printed = run(s(&["brand", "import", "samples/brands", "--table", &table]));
    assert!(printed.contains("acme: content version 1"), "{printed}");
    assert!(printed.contains("globex: content version 1"), "{printed}");

    let store = vigie_aws::DynamoStore::new(client, &table);
    let acme = store
        .content(&vigie_core::comment::BrandId::parse("acme").unwrap())
        .await
        .unwrap()
        .expect("stored in the table");
    assert_eq!(acme.version, 1);
    assert!(acme.embedding_model.is_some());
    assert!(acme.replies.iter().all(|r| r.embedding.is_some()));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("acme");
    run(s(&[
        "brand",
        "export",
        out.to_str().unwrap(),
        "--brand",
        "acme",
        "--table",
        &table,
    ]));
    let exported = std::fs::read_to_string(out.join("replies.toml")).unwrap();
    assert_eq!(exported.matches("[[replies]]").count(), acme.replies.len());
}

#[tokio::test]
async fn users_are_added_with_a_hashed_password_listed_and_removed() {
    use vigie_core::ports::UserStore;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap().to_owned();
    let user = |args: &[&str], password: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigie"));
        cmd.arg("user")
            .args(args)
            .args(["--db", &db])
            .current_dir(root());
        if let Some(p) = password {
            cmd.env("VIGIE_PASSWORD", p);
        }
        cmd.output().unwrap()
    };
    let secret = "une phrase de passe assez longue";
    let out = user(
        &[
            "add",
            "camille",
            "--role",
            "acme=admin",
            "--role",
            "globex=viewer",
        ],
        Some(secret),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = user(&["add", "camille", "--role", "acme=viewer"], Some(secret));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("camille exists already"));
    let out = user(&["add", "lou", "--role", "acme=responder"], Some("court"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let out = user(&["add", "lou", "--role", "acme=boss"], Some(secret));
    assert!(String::from_utf8_lossy(&out.stderr).contains("viewer, responder, admin"));

    let out = user(&["list"], None);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed, "camille\tacme=admin,globex=viewer\n");
    assert!(!listed.contains("argon2") && !listed.contains(secret));

    let store = vigie_sqlite::Database::open(std::path::Path::new(&db))
        .unwrap()
        .store();
    let stored = store
        .user(&vigie_core::users::UserName::parse("camille").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(!stored.password_hash.contains(secret));
    assert!(vigie_review::auth::verify_password(
        &stored.password_hash,
        secret
    ));

    // A token: printed once, alone on stdout; listed by id and label; revoked by id.
    let out = user(
        &["token", "add", "camille", "--label", "nightly export"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim_end();
    assert!(token.starts_with("vigie_"), "{token}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown this once"));
    let stored = store
        .user(&vigie_core::users::UserName::parse("camille").unwrap())
        .await
        .unwrap()
        .unwrap();
    let id = stored.tokens[0].id.clone();
    assert!(token.starts_with(&format!("vigie_{id}_")));
    let out = user(&["list"], None);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.starts_with(&format!(
            "camille\tacme=admin,globex=viewer\n  token {id}\tnightly export\t"
        )),
        "{listed}"
    );
    assert!(!listed.contains(&token["vigie_".len() + 9..]), "{listed}");
    assert!(!listed.contains(&stored.tokens[0].sha256));
    let out = user(&["token", "add", "nobody", "--label", "x"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user nobody"));
    assert!(
        user(&["token", "revoke", "camille", &id], None)
            .status
            .success()
    );
    let out = user(&["token", "revoke", "camille", &id], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("camille has no such token"));
    assert_eq!(
        String::from_utf8_lossy(&user(&["list"], None).stdout),
        "camille\tacme=admin,globex=viewer\n"
    );

    assert!(user(&["remove", "camille"], None).status.success());
    let out = user(&["remove", "camille"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user camille"));
    assert_eq!(String::from_utf8_lossy(&user(&["list"], None).stdout), "");
}

/// `vigie poll` reads a YouTube channel through an API on loopback into the local store:
/// the first run takes the comments in, the second finds them all there already.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_reads_every_feed_once_and_reports_each() {
    let pages = root().join("tests/fixtures/pull/youtube");
    let first = std::fs::read_to_string(pages.join("threads-1.json")).unwrap();
    let second = std::fs::read_to_string(pages.join("threads-2.json")).unwrap();
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::post(|| async {
                r#"{"access_token":"ya29.t","expires_in":3599,"token_type":"Bearer"}"#
            }),
        )
        .route(
            "/youtube/v3/commentThreads",
            axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
                let (first, second) = (first.clone(), second.clone());
                async move {
                    if q.unwrap_or_default().contains("pageToken=") {
                        second
                    } else {
                        first
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("brands.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[apps.acme-youtube]
platform = "youtube"
[apps.acme-youtube.pull]
client_id = "1234.apps.googleusercontent.com"
client_secret = {{ env = "T_YT_CLIENT_SECRET" }}
refresh_token = {{ env = "T_YT_REFRESH" }}
api_url = "{base}"
token_url = "{base}/token"

[[brands]]
id = "acme"
name = "Acme"
accounts = {{ youtube = ["UCacmeAcmeAcmeAcmeAcme00"] }}
"#
        ),
    )
    .unwrap();
    let db = dir.path().join("vigie.db");
    let run = |json: bool| {
        let (config, db) = (config.clone(), db.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigie"));
            cmd.arg("poll")
                .arg("--config")
                .arg(&config)
                .arg("--db")
                .arg(&db)
                // the pages are of 2026-12-01 and 2025-10-01: back far enough for both
                .args(["--backfill-hours", "100000"])
                .env("T_YT_CLIENT_SECRET", "s")
                .env("T_YT_REFRESH", "r");
            if json {
                cmd.arg("--json");
            }
            cmd.output().unwrap()
        })
    };
    let out = run(true).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["feeds"], 1);
    assert_eq!(summary["stored"], 4, "{summary}");
    assert_eq!(summary["report"]["feeds"][0]["pages"], 2);

    let out = run(false).await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "acme-youtube/youtube/UCacmeAcmeAcmeAcmeAcme00: 1 page(s), 0 new, 3 already in"
        ),
        "{text}"
    );
    assert!(
        text.contains("1 feed(s): 0 new comment(s), 0 missed by webhooks, 0 failed"),
        "{text}"
    );

    // the feed's state, as the store keeps it
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["poll", "--status", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .env("T_YT_CLIENT_SECRET", "s")
        .env("T_YT_REFRESH", "r")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("acme-youtube/youtube/UCacmeAcmeAcmeAcmeAcme00: 2 run(s), last 20"),
        "{text}"
    );
    assert!(
        text.contains("read up to 2026-12-01T09:45:00Z, 0 missed by webhooks in all"),
        "{text}"
    );

    // a configuration with nothing to read says what is missing
    let none = dir.path().join("none.toml");
    std::fs::write(&none, "[[brands]]\nid = \"acme\"\nname = \"Acme\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["poll", "--config"])
        .arg(&none)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no feed to read"));
}
