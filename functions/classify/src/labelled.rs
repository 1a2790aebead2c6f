//! Urgency, risk signals and intent measured on labelled comments
//! (model/signals/data/GUIDE.md): vigie's urgency with the learned heads and with the
//! phrase list alone, side by side (`vigie eval --signals`, and the full-model tests).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigie_core::comment::{Author, Platform};
use vigie_core::understanding::{Intent, RiskSignal};
use vigie_core::urgency::{self, Assessment, UrgencyPolicy};
use vigie_model::{ModelError, SentimentModel};

#[derive(Debug, thiserror::Error)]
pub enum LabelledError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{at}: {reason}")]
    Row { at: String, reason: String },
    #[error("no labelled comment found")]
    Empty,
    #[error("model {0} has no signal heads: build them with `scripts/build-model`")]
    NoHeads(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

#[derive(Deserialize)]
struct Labelled {
    text: String,
    lang: String,
    intent: String,
    signals: Vec<String>,
}

/// One labelled comment.
pub struct Row {
    pub text: String,
    pub lang: String,
    pub intent: Intent,
    pub signals: BTreeSet<RiskSignal>,
}

impl Row {
    pub fn urgent(&self) -> bool {
        self.signals.iter().any(|s| s.is_urgent())
    }
}

fn files(path: &Path) -> Result<Vec<PathBuf>, LabelledError> {
    let fail = |e: std::io::Error| LabelledError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(fail)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        entries.sort();
        let mut out = Vec::new();
        for e in entries {
            out.extend(files(&e)?);
        }
        Ok(out)
    } else if path.extension().is_some_and(|e| e == "jsonl") {
        Ok(vec![path.to_owned()])
    } else if path.exists() {
        Ok(Vec::new())
    } else {
        Err(LabelledError::Read {
            path: path.to_owned(),
            reason: "does not exist".into(),
        })
    }
}

/// The labelled comments of JSONL files, or of every `.jsonl` under folders.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Row>, LabelledError> {
    let mut rows = Vec::new();
    for root in paths {
        for path in files(root)? {
            let text = std::fs::read_to_string(&path).map_err(|e| LabelledError::Read {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let row = |reason: String| LabelledError::Row {
                    at: format!("{}:{}", path.display(), n + 1),
                    reason,
                };
                let r: Labelled = serde_json::from_str(line).map_err(|e| row(e.to_string()))?;
                let intent = Intent::parse(&r.intent)
                    .ok_or_else(|| row(format!("unknown intent {:?}", r.intent)))?;
                let signals = r
                    .signals
                    .iter()
                    .map(|s| {
                        RiskSignal::parse(s).ok_or_else(|| row(format!("unknown signal {s:?}")))
                    })
                    .collect::<Result<_, _>>()?;
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
        return Err(LabelledError::Empty);
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

/// Figures per language and for "all"; `progress` is told how many comments are done.
pub fn evaluate(
    model: &SentimentModel,
    rows: &[Row],
    progress: &dyn Fn(usize),
) -> Result<BTreeMap<String, Group>, LabelledError> {
    let heads = model
        .heads()
        .ok_or_else(|| LabelledError::NoHeads(model.version().to_owned()))?;
    let policy = UrgencyPolicy::default();
    let author = Author {
        id: "eval".into(),
        name: None,
        followers: None,
    };
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for chunk in rows.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let predictions = model.classify(&texts)?;
        for (row, p) in chunk.iter().zip(&predictions) {
            let sentiment = crate::sentiment(p, model.version());
            let u = crate::understanding(heads, &p.embedding);
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
        progress(chunk.len());
    }
    Ok(groups)
}
