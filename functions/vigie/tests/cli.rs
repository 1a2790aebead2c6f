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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("macro-F1") && text.contains("confusion"),
        "{text}"
    );
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
    let python = root().join(".venv/bin/python");
    let mut args = vec![
        "bench",
        "--data",
        data.to_str().unwrap(),
        "--texts",
        "5",
        "--json",
    ];
    if !python.exists() {
        eprintln!(
            "no .venv: measuring Rust only (scripts/setup-python makes the baseline available)"
        );
        args.push("--no-baseline");
    }
    let out = vigie(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rounds = doc["rounds"].as_u64().unwrap() as usize;
    for side in ["rust", "python"] {
        if side == "python" && !python.exists() {
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
        python.exists(),
        "a ratio exactly when the baseline ran"
    );
}
