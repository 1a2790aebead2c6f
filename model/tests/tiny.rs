//! The real loading and inference code on the tiny test model (model/testdata/tiny, made
//! by `python -m vigie_recipe.tiny`): same signature as the real model, random weights.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigie_model::{ModelError, ModelOptions, SentimentModel};

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tiny")
}

fn tiny() -> SentimentModel {
    SentimentModel::load(&ModelOptions {
        intra_threads: 1,
        ..ModelOptions::new(tiny_dir())
    })
    .expect("the tiny model loads")
}

/// A copy of the tiny model in a temporary folder, to damage.
fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.json", "model.onnx", "tokenizer.json"] {
        std::fs::copy(tiny_dir().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn loads_with_the_signature_of_model_json() {
    let model = tiny();
    assert!(model.version().starts_with("vigie-sentiment-tiny-"));
    assert_eq!(model.embedding_dim(), 32);
    assert_eq!(model.max_tokens(), 24);
    assert_eq!(model.card().labels, ["negative", "neutral", "positive"]);
}

/// The project's venv: `VIGIE_VENV`, else `<workspace>/.venv`.
fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("VIGIE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var("VIGIE_REQUIRE_VENV").as_deref() != Ok("1"),
        "{} is missing: run scripts/setup-python",
        python.display()
    );
    eprintln!("skipped: no {} (scripts/setup-python)", python.display());
    None
}

/// The venv's onnxruntime on the same graph and ids, one text per run as `classify` does
/// below: the library the crate loads, so the same int8 kernels for this CPU.
const REFERENCE: &str = r#"
import json, sys
import numpy as np, onnxruntime as ort
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
out = []
for ids in json.load(sys.stdin):
    ids = np.asarray([ids], dtype=np.int64)
    p, e = s.run(["probabilities", "embedding"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    out.append({"probabilities": p[0].tolist(), "embedding": e[0].tolist()})
print(json.dumps(out))
"#;

fn reference_on_this_cpu(python: &Path, ids: &[&[u32]]) -> Vec<(Vec<f32>, Vec<f32>)> {
    use std::io::Write;
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(REFERENCE)
        .arg(tiny_dir().join("model.onnx"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the venv's python runs");
    let input = serde_json::to_vec(ids).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "onnxruntime reference: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    rows.iter()
        .map(|r| (floats(&r["probabilities"]), floats(&r["embedding"])))
        .collect()
}

/// How far the recorded values may be from this CPU's. They were computed by kernels that
/// do the integer arithmetic exactly (AVX-512 VNNI; the graph run unfused in float agrees
/// to 5e-7). Other kernels differ by whole steps of the quantized activations (scales
/// 0.0013 to 0.0079 in this graph): AVX2 without VNNI saturates its 16-bit sums of u8 x s8
/// pairs, which moves the probabilities by up to 0.0032 and the embedding by up to 0.0141.
/// Moving every element of the graph's 16 quantized activations by -4, 0 or 4 steps at
/// random moves them by at most 0.013 and 0.019 in 1,000 trials
/// (`.venv/bin/python model/tests/tiny_spread.py --steps 4 --trials 1000`); the tolerance
/// is twice that. The tiny model's random weights give every text nearly the same outputs,
/// so this only catches gross errors (wrong output, pooling or normalisation); the check
/// against the venv's onnxruntime on this CPU is the sharp one.
const RECORDED_PROBABILITY_TOLERANCE: f32 = 0.026;
const RECORDED_EMBEDDING_TOLERANCE: f32 = 0.038;
/// Same library, same kernels, same graph: only the order of float additions may differ.
const SAME_CPU_TOLERANCE: f32 = 1e-5;

#[test]
fn matches_the_ids_and_probabilities_computed_by_the_recipe() {
    let model = tiny();
    let golden = &model.card().golden;
    assert!(golden.len() >= 6);
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let encoded = model.encode(&texts).unwrap();
    for (g, e) in golden.iter().zip(&encoded) {
        assert_eq!(e.ids, g.ids, "token ids of {:?}", g.text);
    }
    let predictions: Vec<_> = golden
        .iter()
        .map(|g| model.classify(&[g.text.as_str()]).unwrap().remove(0))
        .collect();
    for (g, p) in golden.iter().zip(&predictions) {
        for (got, want) in p.probabilities.as_array().iter().zip(g.probabilities) {
            assert!(
                (got - want).abs() < RECORDED_PROBABILITY_TOLERANCE,
                "{:?}: {got} vs {want} recorded",
                g.text
            );
        }
        for (got, want) in p.embedding.iter().zip(&g.embedding_head) {
            assert!(
                (got - want).abs() < RECORDED_EMBEDDING_TOLERANCE,
                "{:?}: embedding {got} vs {want} recorded",
                g.text
            );
        }
    }
    let Some(python) = venv_python() else { return };
    let ids: Vec<&[u32]> = golden.iter().map(|g| g.ids.as_slice()).collect();
    let reference = reference_on_this_cpu(&python, &ids);
    assert_eq!(reference.len(), golden.len());
    for ((g, p), (probabilities, embedding)) in golden.iter().zip(&predictions).zip(&reference) {
        for (got, want) in p.probabilities.as_array().iter().zip(probabilities) {
            assert!(
                (got - want).abs() < SAME_CPU_TOLERANCE,
                "{:?}: {got} vs {want} from onnxruntime on this CPU",
                g.text
            );
        }
        assert_eq!(p.embedding.len(), embedding.len());
        for (got, want) in p.embedding.iter().zip(embedding) {
            assert!(
                (got - want).abs() < SAME_CPU_TOLERANCE,
                "{:?}: embedding {got} vs {want} from onnxruntime on this CPU",
                g.text
            );
        }
    }
}

#[test]
fn predictions_are_well_formed() {
    let model = tiny();
    let texts = [
        "Super service, merci !",
        "Colis perdu, personne ne répond.",
        "Horaires ?",
    ];
    for p in model.classify(&texts).unwrap() {
        let sum: f32 = p.probabilities.as_array().iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
        let norm: f32 = p.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "embedding norm {norm}");
        assert_eq!(p.embedding.len(), 32);
        let (label, top) = p.probabilities.top();
        assert_eq!(p.label, label);
        assert_eq!(p.confidence, top);
        assert!(!p.truncated);
    }
}

#[test]
fn a_text_gets_the_same_verdict_whatever_its_batch_mates() {
    let model = tiny();
    let texts = [
        "ok",
        "Livraison en retard de trois semaines, aucune réponse.",
        "Love it",
        "Vos magasins ouvrent à quelle heure le dimanche ?",
        "Worst customer service ever, I want a refund now.",
        "Merci !",
    ];
    let together = model.classify(&texts).unwrap();
    for (text, batched) in texts.iter().zip(&together) {
        let alone = &model.classify(&[*text]).unwrap()[0];
        assert_eq!(alone.label, batched.label, "{text}");
        for (a, b) in alone
            .probabilities
            .as_array()
            .iter()
            .zip(batched.probabilities.as_array())
        {
            assert!((a - b).abs() < 1e-5, "{text}: {a} alone, {b} in a batch");
        }
    }
}

#[test]
fn results_come_back_in_input_order_across_batches() {
    let model = SentimentModel::load(&ModelOptions {
        batch_size: 2,
        intra_threads: 1,
        ..ModelOptions::new(tiny_dir())
    })
    .unwrap();
    let texts: Vec<String> = (0..7)
        .map(|i| format!("message {} {}", i, "très ".repeat(i)))
        .collect();
    let batched = model.classify(&texts).unwrap();
    for (text, p) in texts.iter().zip(&batched) {
        let alone = &model.classify(&[text]).unwrap()[0];
        assert_eq!(alone.tokens, p.tokens, "{text}");
        assert!((alone.probabilities.negative - p.probabilities.negative).abs() < 1e-5);
    }
}

#[test]
fn long_texts_are_truncated_and_say_so() {
    let model = tiny();
    let long = "Le service client ne répond jamais et la livraison est en retard. ".repeat(10);
    let p = &model.classify(&[long.as_str()]).unwrap()[0];
    assert!(p.truncated);
    assert_eq!(p.tokens, 24);
    let e = &model.encode(&[long.as_str()]).unwrap()[0];
    assert!(e.pieces > 22);
    assert_eq!(e.ids.first(), Some(&0));
    assert_eq!(e.ids.last(), Some(&2));
}

#[test]
fn empty_text_is_a_clear_error() {
    let err = tiny().classify(&["fine", "   ", "ok"]).unwrap_err();
    assert!(matches!(err, ModelError::EmptyText { index: 1 }), "{err}");
}

#[test]
fn a_missing_model_names_the_file_and_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = SentimentModel::load(&ModelOptions::new(dir.path())).unwrap_err();
    match &err {
        ModelError::FileMissing { path } => assert!(path.ends_with("model.json")),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("scripts/build-model"));
}

#[test]
fn a_damaged_file_fails_its_checksum() {
    let dir = tiny_copy();
    let path = dir.path().join("tokenizer.json");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b' ');
    std::fs::write(&path, bytes).unwrap();
    let err = SentimentModel::load(&ModelOptions::new(dir.path())).unwrap_err();
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
}

#[test]
fn every_file_model_json_lists_is_checked_the_weights_file_too() {
    use sha2::{Digest, Sha256};
    let dir = tiny_copy();
    let weights = dir.path().join("model.onnx.data");
    std::fs::write(&weights, vec![7u8; 3 << 20]).unwrap();
    let card_path = dir.path().join("model.json");
    let mut card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&card_path).unwrap()).unwrap();
    card["files"]["model.onnx.data"] =
        hex::encode(Sha256::digest(std::fs::read(&weights).unwrap())).into();
    std::fs::write(&card_path, serde_json::to_vec(&card).unwrap()).unwrap();
    SentimentModel::load(&ModelOptions::new(dir.path())).expect("every listed file matches");

    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[2 << 20] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = SentimentModel::load(&ModelOptions::new(dir.path())).unwrap_err();
    assert!(
        matches!(err, ModelError::ChecksumMismatch { ref path, .. } if path == &weights),
        "{err}"
    );

    std::fs::remove_file(&weights).unwrap();
    let err = SentimentModel::load(&ModelOptions::new(dir.path())).unwrap_err();
    assert!(
        matches!(err, ModelError::FileMissing { ref path } if path == &weights),
        "{err}"
    );
}

/// The checksums are computed beside ONNX Runtime's loading, yet a damaged graph is reported
/// by its checksum, not by what ONNX Runtime (or the shared weights' reader) made of it.
#[test]
fn a_damaged_graph_is_reported_by_its_checksum() {
    let dir = tiny_copy();
    std::fs::write(dir.path().join("model.onnx"), b"not an onnx graph").unwrap();
    for sessions in [1, 2] {
        let options = ModelOptions {
            sessions,
            ..ModelOptions::new(dir.path())
        };
        let err = SentimentModel::load(&options).unwrap_err();
        assert!(
            matches!(err, ModelError::ChecksumMismatch { ref path, .. } if path.ends_with("model.onnx")),
            "{sessions} sessions: {err}"
        );
    }
}

#[test]
fn a_corrupt_graph_is_reported_as_corrupt() {
    let dir = tiny_copy();
    std::fs::write(dir.path().join("model.onnx"), b"not an onnx graph").unwrap();
    let options = ModelOptions {
        verify_checksums: false,
        ..ModelOptions::new(dir.path())
    };
    let err = SentimentModel::load(&options).unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
}

#[test]
fn a_graph_with_other_outputs_is_refused() {
    let dir = tiny_copy();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/wrong-signature.onnx"),
        dir.path().join("model.onnx"),
    )
    .unwrap();
    let options = ModelOptions {
        verify_checksums: false,
        ..ModelOptions::new(dir.path())
    };
    let err = SentimentModel::load(&options).unwrap_err();
    match &err {
        ModelError::Signature { reason, .. } => {
            assert!(reason.contains("probabilities"), "{reason}")
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn one_model_serves_many_threads() {
    let model = Arc::new(
        SentimentModel::load(&ModelOptions {
            sessions: 2,
            intra_threads: 1,
            ..ModelOptions::new(tiny_dir())
        })
        .unwrap(),
    );
    let expected = model.classify(&["Merci beaucoup", "Colis perdu"]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| model.classify(&["Merci beaucoup", "Colis perdu"]).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for got in h.join().unwrap() {
            assert_eq!(got, expected);
        }
    }
}

#[test]
fn calls_spread_over_sessions_give_what_one_session_gives() {
    let load = |sessions| {
        SentimentModel::load(&ModelOptions {
            sessions,
            intra_threads: 1,
            batch_size: 3,
            ..ModelOptions::new(tiny_dir())
        })
        .unwrap()
    };
    let (one, three) = (load(1), Arc::new(load(3)));
    assert_eq!(three.sessions(), 3);
    // lengths from 1 to 20 words: many calls of up to 3 texts each
    let texts: Vec<String> = (0..40)
        .map(|i| format!("avis {i} {}", "vraiment ".repeat(i % 20)))
        .collect();
    let expected = one.classify(&texts).unwrap();
    assert_eq!(three.classify(&texts).unwrap(), expected);
    // and with callers competing for the sessions
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (model, texts) = (Arc::clone(&three), texts.clone());
            std::thread::spawn(move || model.classify(&texts).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
}
