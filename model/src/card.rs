use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `model.json`: what the model is, how to feed it, and how well it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    pub labels: Vec<String>,
    pub max_tokens: usize,
    pub truncation: String,
    pub text_prefix: String,
    pub special_ids: SpecialIds,
    pub temperature: f32,
    /// Per label, the probability at which predicting it reaches a precision (calibration split).
    #[serde(default)]
    pub thresholds: BTreeMap<String, BTreeMap<String, Option<f32>>>,
    /// File name -> sha256.
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub eval: serde_json::Value,
    #[serde(default)]
    pub golden: Vec<Golden>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SpecialIds {
    pub bos: u32,
    pub pad: u32,
    pub eos: u32,
}

/// A text with the ids and probabilities the build computed, to check this runtime against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Golden {
    pub text: String,
    pub ids: Vec<u32>,
    pub probabilities: [f32; 3],
    #[serde(default)]
    pub embedding_head: Vec<f32>,
}

impl ModelCard {
    /// Probability of `label` above which predictions of it reached `precision` (e.g. 90).
    pub fn threshold(&self, label: &str, precision: u32) -> Option<f32> {
        self.thresholds
            .get(label)?
            .get(&format!("precision_{precision}"))
            .copied()
            .flatten()
    }
}
