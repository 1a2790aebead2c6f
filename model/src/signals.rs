//! Risk-signal and intent heads over the sentence embedding (`<model>/signals/`, built by
//! `model/signals`): linear layers with Platt-scaled sigmoids for the signals, a
//! temperature-scaled softmax for the intent, and the labelled training comments'
//! embeddings for the nearest examples behind a signal.
//!
//! Pure arithmetic on one embedding at a time: a reading never depends on batch-mates.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ModelError;

#[derive(Debug, Deserialize)]
struct Card {
    version: String,
    model_version: String,
    dim: usize,
    signals: Vec<SignalCard>,
    intent: IntentCard,
    examples: ExamplesCard,
    files: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    golden: Vec<GoldenCard>,
}

#[derive(Debug, Deserialize)]
struct SignalCard {
    name: String,
    weight: Vec<f32>,
    bias: f32,
    platt: [f32; 2],
    threshold: f32,
}

#[derive(Debug, Deserialize)]
struct IntentCard {
    labels: Vec<String>,
    weight: Vec<Vec<f32>>,
    bias: Vec<f32>,
    temperature: f32,
}

#[derive(Debug, Deserialize)]
struct ExamplesCard {
    embeddings: String,
    labels: String,
    count: usize,
}

/// Outputs the recipe computed for an embedding, which the crate must reproduce.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenCard {
    pub embedding: Vec<f32>,
    pub signals: Vec<f32>,
    pub intent: Vec<f32>,
}

/// One labelled training comment.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Example {
    pub text: String,
    pub lang: String,
    pub intent: String,
    pub signals: Vec<String>,
}

/// One signal's calibrated probability and the threshold from which it is confident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalProbability {
    pub name: String,
    pub probability: f32,
    pub threshold: f32,
}

/// What the heads read in one embedding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadsReading {
    /// Every signal, in the heads' order.
    pub signals: Vec<SignalProbability>,
    pub intent: String,
    pub intent_probability: f32,
    /// Probability of every intent, in [`Heads::intents`] order.
    #[serde(skip)]
    pub intents: Vec<f32>,
}

pub struct Heads {
    version: String,
    model_version: String,
    dim: usize,
    names: Vec<String>,
    /// [signals x dim], row-major.
    signal_w: Vec<f32>,
    signal_b: Vec<f32>,
    platt: Vec<[f32; 2]>,
    thresholds: Vec<f32>,
    intents: Vec<String>,
    /// [intents x dim], row-major.
    intent_w: Vec<f32>,
    intent_b: Vec<f32>,
    temperature: f32,
    /// [examples x dim], unit rows.
    example_emb: Vec<f32>,
    examples: Vec<Example>,
    /// For each signal, the indices of the examples labelled with it.
    by_signal: Vec<Vec<usize>>,
    golden: Vec<GoldenCard>,
}

impl std::fmt::Debug for Heads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heads")
            .field("version", &self.version)
            .field("signals", &self.names.len())
            .field("intents", &self.intents.len())
            .field("examples", &self.examples.len())
            .finish()
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Corrupt {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl Heads {
    /// The heads in `dir` (`heads.json`, the example embeddings and labels), checked
    /// against their checksums and against the model they were trained for.
    pub fn load(dir: &Path, model_version: &str) -> Result<Self, ModelError> {
        let card_path = dir.join("heads.json");
        let card: Card = serde_json::from_slice(&crate::read(&card_path)?)
            .map_err(|e| corrupt(&card_path, e.to_string()))?;
        if card.model_version != model_version {
            return Err(ModelError::HeadsMismatch {
                path: card_path,
                heads_for: card.model_version,
                model: model_version.to_owned(),
            });
        }
        let file = |name: &str| -> Result<(PathBuf, Vec<u8>), ModelError> {
            let path = dir.join(name);
            let bytes = crate::read(&path)?;
            let expected = card
                .files
                .get(name)
                .ok_or_else(|| corrupt(&card_path, format!("no checksum for {name}")))?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if &actual != expected {
                return Err(ModelError::ChecksumMismatch {
                    path,
                    expected: expected.clone(),
                    actual,
                });
            }
            Ok((path, bytes))
        };
        let dim = card.dim;
        let (emb_path, emb_bytes) = file(&card.examples.embeddings)?;
        if emb_bytes.len() != card.examples.count * dim * 4 {
            return Err(corrupt(
                &emb_path,
                format!(
                    "{} bytes for {} examples of {dim} floats",
                    emb_bytes.len(),
                    card.examples.count
                ),
            ));
        }
        let example_emb: Vec<f32> = emb_bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (labels_path, label_bytes) = file(&card.examples.labels)?;
        let examples: Vec<Example> = std::str::from_utf8(&label_bytes)
            .map_err(|e| corrupt(&labels_path, e.to_string()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| corrupt(&labels_path, format!("line {}: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?;
        if examples.len() != card.examples.count {
            return Err(corrupt(
                &labels_path,
                format!(
                    "{} examples, {} expected",
                    examples.len(),
                    card.examples.count
                ),
            ));
        }
        let width = |what: &str, v: &[f32]| {
            if v.len() == dim {
                Ok(())
            } else {
                Err(corrupt(
                    &card_path,
                    format!("{what} has {} weights, not {dim}", v.len()),
                ))
            }
        };
        for s in &card.signals {
            width(&s.name, &s.weight)?;
        }
        for (row, label) in card.intent.weight.iter().zip(&card.intent.labels) {
            width(label, row)?;
        }
        if card.intent.weight.len() != card.intent.labels.len()
            || card.intent.bias.len() != card.intent.labels.len()
        {
            return Err(corrupt(
                &card_path,
                "intent weights and labels differ in number",
            ));
        }
        let names: Vec<String> = card.signals.iter().map(|s| s.name.clone()).collect();
        let by_signal = names
            .iter()
            .map(|n| {
                examples
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.signals.iter().any(|s| s == n))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        Ok(Self {
            version: card.version,
            model_version: card.model_version,
            dim,
            signal_w: card.signals.iter().flat_map(|s| s.weight.clone()).collect(),
            signal_b: card.signals.iter().map(|s| s.bias).collect(),
            platt: card.signals.iter().map(|s| s.platt).collect(),
            thresholds: card.signals.iter().map(|s| s.threshold).collect(),
            names,
            intents: card.intent.labels,
            intent_w: card.intent.weight.concat(),
            intent_b: card.intent.bias,
            temperature: card.intent.temperature,
            example_emb,
            examples,
            by_signal,
            golden: card.golden,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Width of the embeddings the heads read.
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    pub fn signals(&self) -> &[String] {
        &self.names
    }

    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// Embeddings with the outputs the recipe computed for them.
    pub fn golden(&self) -> &[GoldenCard] {
        &self.golden
    }

    /// The heads' reading of one embedding of the model's width.
    pub fn read(&self, embedding: &[f32]) -> HeadsReading {
        assert_eq!(embedding.len(), self.dim, "embedding width");
        let signals = (0..self.names.len())
            .map(|j| {
                let w = &self.signal_w[j * self.dim..(j + 1) * self.dim];
                let z = dot(w, embedding) + self.signal_b[j];
                let [a, b] = self.platt[j];
                SignalProbability {
                    name: self.names[j].clone(),
                    probability: sigmoid(a * z + b),
                    threshold: self.thresholds[j],
                }
            })
            .collect();
        let logits: Vec<f32> = (0..self.intents.len())
            .map(|k| {
                let w = &self.intent_w[k * self.dim..(k + 1) * self.dim];
                (dot(w, embedding) + self.intent_b[k]) / self.temperature
            })
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|z| (z - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        let intents: Vec<f32> = exp.iter().map(|e| e / sum).collect();
        let (best, p) =
            intents.iter().enumerate().fold(
                (0, f32::MIN),
                |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc },
            );
        HeadsReading {
            signals,
            intent: self.intents[best].clone(),
            intent_probability: p,
            intents,
        }
    }

    /// The `k` training comments labelled with `signal` nearest to `embedding` (cosine),
    /// nearest first, with their similarity.
    pub fn nearest(&self, embedding: &[f32], signal: &str, k: usize) -> Vec<(&Example, f32)> {
        let Some(j) = self.names.iter().position(|n| n == signal) else {
            return Vec::new();
        };
        let norm = dot(embedding, embedding).sqrt().max(1e-12);
        let mut scored: Vec<(usize, f32)> = self.by_signal[j]
            .iter()
            .map(|&i| {
                let row = &self.example_emb[i * self.dim..(i + 1) * self.dim];
                (i, dot(row, embedding) / norm)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .take(k)
            .map(|(i, s)| (&self.examples[i], s))
            .collect()
    }
}
