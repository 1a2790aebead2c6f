//! `vigie eval --signals`: urgency, risk signals and intent on labelled comments
//! (model/signals/data/GUIDE.md), with the learned heads and with the phrase list alone,
//! side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use vigie_core::comment::{Author, Platform};
use vigie_core::understanding::{Intent, RiskSignal};
use vigie_core::urgency::{self, Assessment, UrgencyPolicy};
use vigie_model::SentimentModel;

#[derive(Deserialize)]
struct Labelled {
    text: String,
    lang: String,
    intent: String,
    signals: Vec<String>,
}

struct Row {
    text: String,
    lang: String,
    intent: Intent,
    signals: BTreeSet<RiskSignal>,
}

impl Row {
    fn urgent(&self) -> bool {
        self.signals.iter().any(|s| s.is_urgent())
    }
}

fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut out = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for e in entries {
            out.extend(files(&e.path())?);
        }
        Ok(out)
    } else if path.extension().is_some_and(|e| e == "jsonl") {
        Ok(vec![path.to_owned()])
    } else if path.exists() {
        Ok(Vec::new())
    } else {
        anyhow::bail!("{} does not exist", path.display())
    }
}

fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for root in paths {
        for path in files(root)? {
            let file = std::fs::File::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let at = || format!("{}:{}", path.display(), n + 1);
                let r: Labelled = serde_json::from_str(&line).with_context(at)?;
                let intent = Intent::parse(&r.intent)
                    .with_context(|| format!("{}: unknown intent {:?}", at(), r.intent))?;
                let signals = r
                    .signals
                    .iter()
                    .map(|s| {
                        RiskSignal::parse(s)
                            .with_context(|| format!("{}: unknown signal {s:?}", at()))
                    })
                    .collect::<anyhow::Result<_>>()?;
                rows.push(Row {
                    text: r.text,
                    lang: r.lang,
                    intent,
                    signals,
                });
            }
        }
    }
    if rows.is_empty() {
        anyhow::bail!("no labelled comment found");
    }
    Ok(rows)
}

/// Precision and recall of a yes/no decision.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Prf {
    pub tp: u32,
    pub fp: u32,
    pub fn_: u32,
}

impl Prf {
    fn add(&mut self, predicted: bool, gold: bool) {
        match (predicted, gold) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            _ => {}
        }
    }
    pub fn precision(&self) -> Option<f64> {
        let d = self.tp + self.fp;
        (d > 0).then(|| f64::from(self.tp) / f64::from(d))
    }
    pub fn recall(&self) -> Option<f64> {
        let d = self.tp + self.fn_;
        (d > 0).then(|| f64::from(self.tp) / f64::from(d))
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Group {
    pub comments: u32,
    /// Escalated by vigie's urgency with the default rules, learned signals in.
    pub urgent_learned: Prf,
    /// Escalated with the phrase list alone (no learned signals).
    pub urgent_phrases: Prf,
    pub intent_correct: u32,
    pub signals_learned: BTreeMap<RiskSignal, Prf>,
    pub signals_phrases: BTreeMap<RiskSignal, Prf>,
}

impl Group {
    pub fn intent_accuracy(&self) -> f64 {
        f64::from(self.intent_correct) / f64::from(self.comments.max(1))
    }
}

pub fn evaluate(
    model: &SentimentModel,
    paths: &[PathBuf],
) -> anyhow::Result<BTreeMap<String, Group>> {
    let heads = model.heads().with_context(|| {
        format!(
            "model {} has no signal heads ({}/signals): build them with `scripts/build-model`",
            model.version(),
            model.dir().display()
        )
    })?;
    let rows = read(paths)?;
    let policy = UrgencyPolicy::default();
    let author = Author {
        id: "eval".into(),
        name: None,
        followers: None,
    };
    let progress = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} comments ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for chunk in rows.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let predictions = model.classify(&texts)?;
        for (row, p) in chunk.iter().zip(&predictions) {
            let sentiment = vigie_classify::sentiment(p, model.version());
            let u = vigie_classify::understanding(heads, &p.embedding);
            let assess = |understanding| {
                urgency::assess(
                    &policy,
                    &Assessment {
                        platform: Platform::Generic,
                        text: Some(&row.text),
                        author: &author,
                        sentiment: Some(&sentiment),
                        earlier_complaints: 0,
                        understanding,
                    },
                )
            };
            let learned = assess(Some(&u)).escalate;
            let phrases = assess(None).escalate;
            let found = urgency::phrase_risks(&row.text);
            for key in [row.lang.clone(), "all".to_owned()] {
                let g = groups.entry(key).or_default();
                g.comments += 1;
                g.urgent_learned.add(learned, row.urgent());
                g.urgent_phrases.add(phrases, row.urgent());
                g.intent_correct += u32::from(u.intent == row.intent);
                for s in RiskSignal::ALL {
                    let gold = row.signals.contains(s);
                    let confident = u.signal(*s).is_some_and(|r| r.confident());
                    g.signals_learned
                        .entry(*s)
                        .or_default()
                        .add(confident, gold);
                    g.signals_phrases
                        .entry(*s)
                        .or_default()
                        .add(found.contains(s), gold);
                }
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(groups)
}

fn f(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into())
}

pub fn print(model: &SentimentModel, groups: &BTreeMap<String, Group>) {
    let heads = model.heads().map(|h| h.version()).unwrap_or("-");
    println!("\nurgency, risk signals and intent (heads {heads}, default urgency rules)");
    println!(
        "{:<6} {:>5} {:>7} | {:>10} {:>8} | {:>10} {:>8} | {:>7}",
        "lang", "n", "urgent", "learned P", "R", "phrases P", "R", "intent"
    );
    for (name, g) in groups {
        println!(
            "{name:<6} {:>5} {:>7} | {:>10} {:>8} | {:>10} {:>8} | {:>7.3}",
            g.comments,
            g.urgent_learned.tp + g.urgent_learned.fn_,
            f(g.urgent_learned.precision()),
            f(g.urgent_learned.recall()),
            f(g.urgent_phrases.precision()),
            f(g.urgent_phrases.recall()),
            g.intent_accuracy()
        );
    }
    for (name, g) in groups {
        println!("\nsignals, {name}: confident learned reading vs phrase list alone");
        println!(
            "{:<16} {:>5} | {:>10} {:>8} | {:>10} {:>8}",
            "signal", "n", "learned P", "R", "phrases P", "R"
        );
        for s in RiskSignal::ALL {
            let l = g.signals_learned.get(s).copied().unwrap_or_default();
            let p = g.signals_phrases.get(s).copied().unwrap_or_default();
            println!(
                "{:<16} {:>5} | {:>10} {:>8} | {:>10} {:>8}",
                s.as_str(),
                l.tp + l.fn_,
                f(l.precision()),
                f(l.recall()),
                f(p.precision()),
                f(p.recall())
            );
        }
    }
}

pub fn json(groups: &BTreeMap<String, Group>) -> serde_json::Value {
    let prf = |p: &Prf| {
        serde_json::json!({
            "precision": p.precision(), "recall": p.recall(),
            "support": p.tp + p.fn_, "predicted": p.tp + p.fp,
        })
    };
    let table = |m: &BTreeMap<RiskSignal, Prf>| -> serde_json::Map<String, serde_json::Value> {
        m.iter()
            .map(|(s, p)| (s.as_str().to_owned(), prf(p)))
            .collect()
    };
    groups
        .iter()
        .map(|(k, g)| {
            (
                k.clone(),
                serde_json::json!({
                    "comments": g.comments,
                    "urgent_learned": prf(&g.urgent_learned),
                    "urgent_phrases": prf(&g.urgent_phrases),
                    "intent_accuracy": g.intent_accuracy(),
                    "signals_learned": table(&g.signals_learned),
                    "signals_phrases": table(&g.signals_phrases),
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
