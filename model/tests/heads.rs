//! The signal and intent heads of the tiny test model (model/testdata/tiny/signals, built
//! by `python -m vigie_signals.build` from model/testdata/signals-data): loading, checks,
//! agreement with the recipe's numbers, nearest examples, independence from batch-mates.

use std::path::{Path, PathBuf};

use vigie_model::{Heads, ModelError, ModelOptions, SentimentModel};

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

/// A copy of the tiny model and its heads, to damage.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("signals")).unwrap();
    for f in [
        "model.json",
        "model.onnx",
        "tokenizer.json",
        "signals/heads.json",
        "signals/examples.f32",
        "signals/examples.jsonl",
    ] {
        std::fs::copy(tiny_dir().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn the_model_loads_its_heads_and_they_reproduce_the_recipe() {
    let model = tiny();
    let heads = model.heads().expect("the tiny model has heads");
    assert_eq!(heads.model_version(), model.version());
    assert_eq!(heads.dim(), model.embedding_dim());
    assert_eq!(heads.signals().len(), 10);
    assert_eq!(heads.intents().len(), 22);
    assert!(!heads.golden().is_empty());
    for g in heads.golden() {
        let r = heads.read(&g.embedding);
        for (got, want) in r.signals.iter().zip(&g.signals) {
            assert!((got.probability - want).abs() < 1e-4, "{got:?} vs {want}");
        }
        for (got, want) in r.intents.iter().zip(&g.intent) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        let sum: f32 = r.intents.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
        let best = heads.intents().iter().position(|i| *i == r.intent).unwrap();
        assert!(r.intents.iter().all(|&p| p <= r.intents[best]));
    }
}

#[test]
fn nearest_examples_carry_the_signal_and_the_closest_comes_first() {
    let model = tiny();
    let heads = model.heads().unwrap();
    let text = &heads
        .examples()
        .iter()
        .find(|e| e.signals.iter().any(|s| s == "legal_threat"))
        .expect("a legal threat among the examples")
        .text
        .clone();
    let p = model.classify(&[text.as_str()]).unwrap().remove(0);
    let near = heads.nearest(&p.embedding, "legal_threat", 3);
    assert!(!near.is_empty());
    assert!(
        near.iter()
            .all(|(e, _)| e.signals.iter().any(|s| s == "legal_threat"))
    );
    assert!(near.windows(2).all(|w| w[0].1 >= w[1].1));
    // the example itself is among its nearest, as close as the closest up to float
    // rounding (its stored embedding was computed on another CPU, whose kernels round
    // differently; the tiny model puts some examples within a hair of each other)
    let own = near
        .iter()
        .find(|(e, _)| &e.text == text)
        .expect("the example among its own nearest");
    assert!(own.1 > 0.999, "{}", own.1);
    assert!(near[0].1 - own.1 < 1e-3, "{} vs {}", near[0].1, own.1);
    assert!(heads.nearest(&p.embedding, "no_such_signal", 3).is_empty());
}

#[test]
fn a_reading_does_not_depend_on_batch_mates() {
    let model = tiny();
    let heads = model.heads().unwrap();
    let texts = [
        "Mon avocat vous écrira demain.",
        "merci !!",
        "Le site est en panne depuis ce matin, impossible de payer, vous comptez faire quoi exactement ?",
    ];
    let alone = model.classify(&texts[..1]).unwrap().remove(0);
    let together = model.classify(&texts).unwrap().remove(0);
    // the heads are a pure function of one embedding
    assert_eq!(heads.read(&alone.embedding), heads.read(&alone.embedding));
    // and the embedding moves by float rounding at most with batch-mates (the tiny model is
    // not the built one, whose batch invariance the recipe checks bit for bit)
    let (a, b) = (
        heads.read(&alone.embedding),
        heads.read(&together.embedding),
    );
    assert_eq!(a.intent, b.intent);
    for (x, y) in a.signals.iter().zip(&b.signals) {
        assert!(
            (x.probability - y.probability).abs() < 1e-4,
            "{x:?} vs {y:?}"
        );
    }
}

#[test]
fn heads_of_another_model_are_refused() {
    let dir = copy();
    let path = dir.path().join("signals/heads.json");
    let card = std::fs::read_to_string(&path).unwrap();
    let version = tiny().version().to_owned();
    std::fs::write(
        &path,
        card.replace(&version, "vigie-sentiment-0123456789ab"),
    )
    .unwrap();
    match SentimentModel::load(&ModelOptions::new(dir.path())) {
        Err(ModelError::HeadsMismatch { heads_for, .. }) => {
            assert_eq!(heads_for, "vigie-sentiment-0123456789ab")
        }
        other => panic!("expected HeadsMismatch, got {other:?}"),
    }
}

#[test]
fn damaged_example_files_fail_their_checksum() {
    let dir = copy();
    let path = dir.path().join("signals/examples.f32");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let err = Heads::load(&dir.path().join("signals"), tiny().version()).unwrap_err();
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
}

#[test]
fn a_model_without_heads_still_loads() {
    let dir = copy();
    std::fs::remove_dir_all(dir.path().join("signals")).unwrap();
    let model = SentimentModel::load(&ModelOptions::new(dir.path())).unwrap();
    assert!(model.heads().is_none());
}
