//! The customer-service sentiment sets of `model/sentiment/` (GUIDE.md) hold what the
//! guide says, and the held-out split shares no comment with the one the recipe may
//! learn from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigie_model::Sentiment;

const KINDS: [&str; 7] = [
    "polite_complaint",
    "sarcasm",
    "question_complaint",
    "legal_threat",
    "praise_request",
    "mixed",
    "plain",
];

const SECTORS: [&str; 9] = [
    "retail",
    "food",
    "telecom",
    "transport",
    "banking",
    "energy",
    "tech",
    "beauty",
    "travel",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    text: String,
    label: String,
    lang: String,
    corpus: String,
    kind: String,
    sector: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sentiment")
}

/// Every row of a split, with the file and line it is on.
fn split(name: &str) -> Vec<(String, Row)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join(name))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        let lang = path.file_stem().unwrap().to_string_lossy().into_owned();
        for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let at = format!("{}:{}", path.display(), n + 1);
            let row: Row = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(row.lang, lang, "{at}: the file's language");
            out.push((at, row));
        }
    }
    out
}

/// What two writers could both have typed: lower case, letters and digits only.
fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn check_rows(rows: &[(String, Row)]) {
    let mut seen = BTreeSet::new();
    for (at, r) in rows {
        assert!(
            Sentiment::parse(&r.label).is_some(),
            "{at}: label {}",
            r.label
        );
        assert_eq!(r.corpus, "customer-service", "{at}");
        assert!(KINDS.contains(&r.kind.as_str()), "{at}: kind {}", r.kind);
        assert!(
            SECTORS.contains(&r.sector.as_str()),
            "{at}: sector {}",
            r.sector
        );
        let chars = r.text.chars().count();
        assert!((2..=400).contains(&chars), "{at}: {chars} characters");
        assert!(seen.insert(normalized(&r.text)), "{at}: written twice");
        // the guide's rules for the kinds that always carry one sentiment
        let always = match r.kind.as_str() {
            "polite_complaint" | "sarcasm" | "question_complaint" | "legal_threat" => {
                Some("negative")
            }
            "praise_request" => Some("positive"),
            _ => None,
        };
        if let Some(want) = always {
            assert_eq!(r.label, want, "{at}: a {} is {want}", r.kind);
        }
    }
}

#[test]
fn the_held_out_split_is_large_balanced_and_apart_from_training() {
    let heldout = split("heldout");
    let train = split("train");
    check_rows(&heldout);
    check_rows(&train);

    let mut by_lang: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (_, r) in &heldout {
        *by_lang
            .entry(r.lang.as_str())
            .or_default()
            .entry(r.kind.as_str())
            .or_default() += 1;
    }
    assert!(heldout.len() >= 300, "{} held-out comments", heldout.len());
    for lang in ["fr", "en"] {
        let kinds = &by_lang[lang];
        let n: usize = kinds.values().sum();
        assert!(n >= 150, "{lang}: {n} held-out comments");
        for kind in KINDS {
            assert!(
                kinds.get(kind).copied().unwrap_or(0) >= 10,
                "{lang}: too few {kind} ({kinds:?})"
            );
        }
        for label in ["negative", "neutral", "positive"] {
            let count = heldout
                .iter()
                .filter(|(_, r)| r.lang == lang && r.label == label)
                .count();
            assert!(count >= 25, "{lang}: {count} {label}");
        }
    }

    let trained: BTreeSet<String> = train.iter().map(|(_, r)| normalized(&r.text)).collect();
    for (at, r) in &heldout {
        assert!(
            !trained.contains(&normalized(&r.text)),
            "{at}: also in train/"
        );
    }
}
