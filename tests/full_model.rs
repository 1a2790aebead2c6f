//! The real model, as built by scripts/build-model: parity with the recipe's ONNX Runtime
//! run, sensible verdicts, batch invariance, the targets, and the embedding.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::OnceLock;

use vigie_model::metrics::figures;
use vigie_model::{ModelOptions, Sentiment, SentimentModel};
use vigie_tests::full_model_dir;

fn model() -> Option<&'static SentimentModel> {
    static MODEL: OnceLock<Option<SentimentModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            full_model_dir().map(|dir| {
                SentimentModel::load(&ModelOptions::new(dir)).expect("the built model loads")
            })
        })
        .as_ref()
}

fn eval_rows(file: &str) -> Vec<serde_json::Value> {
    let path = full_model_dir().unwrap().join("eval").join(file);
    std::io::BufReader::new(std::fs::File::open(&path).unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// Every `every`-th UMSAB val text, `count` of them.
fn val_texts(every: usize, count: usize) -> Vec<String> {
    eval_rows("umsab-val.jsonl")
        .iter()
        .step_by(every)
        .take(count)
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The same label for `text` in both predictions, and probabilities within `tolerance`.
fn assert_same_verdict(
    a: &vigie_model::Prediction,
    b: &vigie_model::Prediction,
    tolerance: f32,
    text: &str,
) {
    assert_eq!(a.label, b.label, "{text}");
    for (x, y) in a
        .probabilities
        .as_array()
        .iter()
        .zip(b.probabilities.as_array())
    {
        assert!((x - y).abs() < tolerance, "{text}: {x} vs {y}");
    }
}

#[test]
fn agrees_with_the_recipe_on_ids_and_probabilities() {
    let Some(model) = model() else { return };
    let golden = &model.card().golden;
    assert!(!golden.is_empty());
    for g in golden {
        let encoded = &model.encode(&[g.text.as_str()]).unwrap()[0];
        assert_eq!(encoded.ids, g.ids, "{}", g.text);
        let p = &model.classify(&[g.text.as_str()]).unwrap()[0];
        for (got, want) in p.probabilities.as_array().iter().zip(g.probabilities) {
            assert!((got - want).abs() < 1e-3, "{}: {got} vs {want}", g.text);
        }
    }
}

/// The model's compact tokenizer (`vigie_model::pieces`) gives every evaluation text, and
/// every customer-service comment, the ids `tokenizers` gives it from the same file.
#[test]
fn tokenizes_every_evaluation_text_as_the_reference_tokenizer_does() {
    let Some(model) = model() else { return };
    let dir = full_model_dir().unwrap();
    let reference = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let mut texts: Vec<String> = ["umsab-val.jsonl", "reviews-test.jsonl"]
        .iter()
        .flat_map(|f| eval_rows(f))
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    let service = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/sentiment");
    for part in ["heldout", "train"] {
        for lang in ["fr", "en"] {
            let file =
                std::fs::read_to_string(service.join(part).join(format!("{lang}.jsonl"))).unwrap();
            texts.extend(file.lines().map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }));
        }
    }
    assert!(texts.len() > 5000, "{} texts", texts.len());
    let card = model.card();
    for chunk in texts.chunks(256) {
        for (text, got) in chunk.iter().zip(model.encode(chunk).unwrap()) {
            let full = reference
                .encode(format!("{}{text}", card.text_prefix), false)
                .unwrap();
            let (kept, _) = vigie_model::cut(full.get_ids(), card.max_tokens);
            let want: Vec<u32> = [card.special_ids.bos]
                .into_iter()
                .chain(kept)
                .chain([card.special_ids.eos])
                .collect();
            assert_eq!(got.ids, want, "{text}");
        }
    }
}

#[test]
fn reads_obvious_comments_right_in_french_and_english() {
    let Some(model) = model() else { return };
    let cases = [
        (
            "Colis jamais reçu, service client injoignable, je suis furieux.",
            Sentiment::Negative,
        ),
        (
            "Merci beaucoup, l'équipe a été formidable, je recommande !",
            Sentiment::Positive,
        ),
        (
            "This is the worst purchase I have ever made, total scam.",
            Sentiment::Negative,
        ),
        (
            "I love this brand, great quality and super fast delivery!",
            Sentiment::Positive,
        ),
    ];
    let texts: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for ((text, want), p) in cases.iter().zip(model.classify(&texts).unwrap()) {
        assert_eq!(p.label, *want, "{text}: {:?}", p.probabilities);
    }
}

#[test]
fn verdicts_do_not_depend_on_batch_mates() {
    let Some(model) = model() else { return };
    let texts = val_texts(13, 96);
    let batched = model.classify(&texts).unwrap();
    for (text, b) in texts.iter().zip(&batched) {
        let alone = &model.classify(&[text]).unwrap()[0];
        assert_same_verdict(alone, b, 1e-3, text);
        // the same intent and the same confident risk signals, alone or batched
        let heads = model.heads().expect("the built model has its heads");
        let (u, v) = (
            vigie_classify::understanding(heads, &alone.embedding),
            vigie_classify::understanding(heads, &b.embedding),
        );
        assert_eq!(u.intent, v.intent, "{text}");
        let confident = |u: &vigie_core::understanding::Understanding| {
            u.confident().iter().map(|r| r.signal).collect::<Vec<_>>()
        };
        assert_eq!(confident(&u), confident(&v), "{text}");
    }
}

/// Two sessions hold the int8 weights and the packed copies once (model/src/weights.rs),
/// and give what one session gives, to one caller or to callers competing for them.
#[test]
fn sessions_sharing_their_weights_give_what_one_session_gives() {
    let Some(one) = model() else { return };
    assert_eq!(one.shared_weights(), 0);
    let two = SentimentModel::load(&ModelOptions {
        sessions: 2,
        intra_threads: 1,
        ..ModelOptions::new(full_model_dir().unwrap())
    })
    .unwrap();
    // the weights of every MatMulIntegerToFloat (four per layer) and the token embeddings
    assert_eq!(two.shared_weights(), 4 * 12 + 1);
    let texts = val_texts(11, 128);
    let same = |a: &vigie_model::Prediction, b: &vigie_model::Prediction, text: &str| {
        assert_same_verdict(a, b, 1e-4, text);
        for (x, y) in a.embedding.iter().zip(&b.embedding) {
            assert!((x - y).abs() < 1e-4, "{text}: embeddings differ");
        }
    };
    let alone = one.classify(&texts).unwrap();
    for ((text, a), b) in texts.iter().zip(&alone).zip(two.classify(&texts).unwrap()) {
        same(a, &b, text);
    }
    std::thread::scope(|scope| {
        for half in texts
            .chunks(texts.len() / 2)
            .zip(alone.chunks(texts.len() / 2))
        {
            let two = &two;
            scope.spawn(move || {
                for (text, a) in half.0.iter().zip(half.1) {
                    same(a, &two.classify(&[text]).unwrap()[0], text);
                }
            });
        }
    });
}

#[test]
fn meets_the_targets_on_held_out_data_as_computed_here() {
    let Some(model) = model() else { return };
    let mut groups: BTreeMap<String, (Vec<String>, Vec<Sentiment>)> = BTreeMap::new();
    for file in ["umsab-val.jsonl", "reviews-test.jsonl"] {
        for row in eval_rows(file) {
            let lang = row["lang"].as_str().unwrap();
            if lang != "fr" && lang != "en" {
                continue;
            }
            let key = format!("{}/{lang}", row["corpus"].as_str().unwrap());
            let g = groups.entry(key).or_default();
            g.0.push(row["text"].as_str().unwrap().to_owned());
            g.1.push(Sentiment::parse(row["label"].as_str().unwrap()).unwrap());
        }
    }
    let mut got = BTreeMap::new();
    for (key, (texts, gold)) in &groups {
        let preds = model.classify(texts).unwrap();
        let rows: Vec<_> = gold
            .iter()
            .copied()
            .zip(preds.iter().map(|p| p.probabilities))
            .collect();
        got.insert(key.clone(), figures(&rows));
    }
    // Same figures as the build recorded with Python onnxruntime.
    for (key, f) in &got {
        let recorded = &model.card().eval[key];
        let want = recorded["macro_f1"].as_f64().unwrap();
        assert!(
            (f.macro_f1 - want).abs() < 0.005,
            "{key}: macro-F1 {} here, {want} in model.json",
            f.macro_f1
        );
    }
    assert!(
        got["umsab/fr"].macro_f1 >= 0.65,
        "UMSAB fr macro-F1 {}",
        got["umsab/fr"].macro_f1
    );
    assert!(
        got["umsab/en"].macro_f1 >= 0.65,
        "UMSAB en macro-F1 {}",
        got["umsab/en"].macro_f1
    );
    let fr_reviews = got["amazon-fr/fr"].binary_accuracy.unwrap();
    assert!(fr_reviews >= 0.85, "Amazon.fr binary accuracy {fr_reviews}");
    let (mut right, mut n) = (0.0, 0.0);
    for key in [
        "panglee-reviews/en",
        "panglee-sentences/en",
        "rottentomatoes/en",
    ] {
        let f = &got[key];
        right += f.binary_accuracy.unwrap() * f.n as f64;
        n += f.n as f64;
    }
    assert!(
        right / n >= 0.80,
        "English reviews binary accuracy {}",
        right / n
    );
}

#[test]
fn stays_under_the_size_budget() {
    let Some(dir) = full_model_dir() else { return };
    // the graph and its external weights, as model.json lists them
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    let bytes: u64 = card["files"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|f| f.starts_with("model.onnx"))
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .sum();
    assert!(
        bytes < 50_000_000,
        "model.onnx and its weights are {bytes} bytes"
    );
}

#[test]
fn embeddings_put_translations_closer_than_unrelated_texts() {
    let Some(model) = model() else { return };
    let texts = [
        "Where is my order? It has not arrived yet.",
        "Où est ma commande ? Elle n'est toujours pas arrivée.",
        "Your new summer collection looks beautiful.",
    ];
    let p = model.classify(&texts).unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for e in &p {
        let norm = cos(&e.embedding, &e.embedding).sqrt();
        assert!((norm - 1.0).abs() < 1e-3);
    }
    let translation = cos(&p[0].embedding, &p[1].embedding);
    let unrelated = cos(&p[0].embedding, &p[2].embedding);
    assert!(
        translation > unrelated + 0.05,
        "translation {translation}, unrelated {unrelated}"
    );
}

/// The heads built for this model, on the held-out labelled comments (never used by the
/// recipe for any choice): the same figures as the recipe computed in Python, and the
/// issue's targets per language with vigie's default urgency rules.
#[test]
fn signal_heads_catch_urgent_comments_and_read_intent_on_held_out_comments() {
    let Some(model) = model() else { return };
    let heads = model
        .heads()
        .expect("the built model has its signal heads (scripts/build-model)");
    let root = vigie_tests::workspace_root().join("model/signals/data/heldout");
    let rows = vigie_classify::labelled::read(&[root]).unwrap();
    let groups = vigie_classify::labelled::evaluate(model, &rows, &|_| {}).unwrap();
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.dir().join("signals/heads.json")).unwrap())
            .unwrap();
    for lang in ["fr", "en"] {
        let g = &groups[lang];
        let recorded = &card["figures"]["heldout"][lang];
        // Python and Rust read the same embeddings with the same weights
        let want = recorded["intent_accuracy"].as_f64().unwrap();
        assert!(
            (g.intent_accuracy() - want).abs() <= 1.0 / g.comments as f64 + 1e-9,
            "{lang}: intent accuracy {} here, {want} in heads.json",
            g.intent_accuracy()
        );
        let urgent = g.urgent_learned;
        let (p, r) = (urgent.precision().unwrap(), urgent.recall().unwrap());
        assert!(r >= 0.9 && p >= 0.7, "{lang}: urgent P {p:.3} R {r:.3}");
        // far above what the phrase list catches alone
        assert!(r > g.urgent_phrases.recall().unwrap() + 0.4, "{lang}");
        // target 0.8; measured 0.803 (fr) and 0.804 (en) on the reference build, the
        // floor leaves one standard error (0.024 on 280 comments) for another CPU's model
        assert!(
            g.intent_accuracy() >= 0.77,
            "{lang}: intent accuracy {}",
            g.intent_accuracy()
        );
    }
    assert_eq!(heads.model_version(), model.version());
}

#[test]
fn look_alikes_stay_calm_and_plain_crises_escalate_alone() {
    use vigie_core::comment::{Author, Platform};
    use vigie_core::urgency::{Assessment, UrgencyPolicy, assess};
    let Some(model) = model() else { return };
    let heads = model.heads().unwrap();
    let author = Author {
        id: "t".into(),
        name: None,
        followers: None,
    };
    let verdict = |text: &str| {
        let p = model.classify(&[text]).unwrap().remove(0);
        let s = vigie_classify::sentiment(&p, model.version());
        let u = vigie_classify::understanding(heads, &p.embedding);
        let v = assess(
            &UrgencyPolicy::default(),
            &Assessment {
                platform: Platform::Facebook,
                text: Some(text),
                author: &author,
                sentiment: Some(&s),
                earlier_complaints: 0,
                understanding: Some(&u),
            },
        );
        (v, u)
    };
    for calm in [
        "Ce gâteau est une tuerie, bravo au pâtissier !",
        "Killer deal on the winter coats, just ordered two.",
        "Je vais porter plainte… contre mon chat qui a mangé le colis 😂",
    ] {
        let (v, _) = verdict(calm);
        assert!(!v.escalate, "{calm}: {v:?}");
    }
    for (urgent, signal) in [
        (
            "Mon fils a fait une réaction allergique après deux bouchées de votre biscuit, on sort des urgences.",
            "safety_risk",
        ),
        (
            "My lawyer will be sending you formal notice on Monday regarding the unpaid refund.",
            "legal_threat",
        ),
    ] {
        let (v, u) = verdict(urgent);
        assert!(v.escalate, "{urgent}: {v:?}");
        let r = u
            .signal(vigie_core::understanding::RiskSignal::parse(signal).unwrap())
            .unwrap();
        assert!(r.confident(), "{urgent}: {r:?}");
        assert!(
            !r.examples.is_empty(),
            "a signal that counts shows its nearest examples"
        );
    }
}
