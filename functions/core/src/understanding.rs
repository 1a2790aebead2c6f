//! What a comment is about, learned from its sentence embedding: calibrated risk signals
//! (multi-label) and one intent, each with the evidence behind it.
//!
//! The labels and how they were decided: model/signals/data/GUIDE.md.

use serde::{Deserialize, Serialize};

named_enum! {
    /// A risk a community manager has to act on today.
    RiskSignal {
        SafetyRisk => "safety_risk",
        ViolenceThreat => "violence_threat",
        LegalThreat => "legal_threat",
        PressMedia => "press_media",
        Virality => "virality",
        Outage => "outage",
        DataLeak => "data_leak",
        HateAbuse => "hate_abuse",
        Scam => "scam",
        Churn => "churn",
    }
}

impl RiskSignal {
    /// Any of these makes a comment urgent; churn alone does not.
    pub fn is_urgent(self) -> bool {
        self != RiskSignal::Churn
    }

    /// Escalates on its own when the model is confident, whatever the sentiment.
    pub fn is_critical(self) -> bool {
        matches!(
            self,
            RiskSignal::SafetyRisk
                | RiskSignal::ViolenceThreat
                | RiskSignal::LegalThreat
                | RiskSignal::DataLeak
                | RiskSignal::PressMedia
        )
    }
}

named_enum! {
    /// What the comment wants, one per comment; when several fit, the first of this order.
    Intent {
        SafetyRisk => "safety_risk",
        LegalThreat => "legal_threat",
        PressInfluencer => "press_influencer",
        PersonalDataExposure => "personal_data_exposure",
        SpamScam => "spam_scam",
        PromptInjection => "prompt_injection",
        AbuseInsult => "abuse_insult",
        Sarcasm => "sarcasm",
        PromiseBait => "promise_bait",
        RefundRequest => "refund_request",
        OutageReport => "outage_report",
        DeliveryDelay => "delivery_delay",
        OrderProblem => "order_problem",
        AvailabilityHours => "availability_hours",
        ProductQuestion => "product_question",
        JobApplication => "job_application",
        PartnershipRequest => "partnership_request",
        ComplaintAngry => "complaint_angry",
        ComplaintMild => "complaint_mild",
        FeedbackSuggestion => "feedback_suggestion",
        Praise => "praise",
        OffTopic => "off_topic",
    }
}

/// One risk signal as read in one comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReading {
    pub signal: RiskSignal,
    /// Calibrated probability.
    pub probability: f32,
    /// From this probability on, the model is confident (chosen on the training split).
    pub threshold: f32,
    /// The nearest labelled examples of this signal, nearest first (only for a signal that
    /// counts: see [`SignalReading::strength`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

impl SignalReading {
    /// 0 below half the threshold, 1 from the threshold on, linear between: a confident
    /// reading counts in full, a hesitant one in part, a faint one not at all.
    pub fn strength(&self) -> f32 {
        let half = self.threshold / 2.0;
        if self.threshold <= 0.0 {
            return 1.0;
        }
        ((self.probability - half) / half).clamp(0.0, 1.0)
    }

    pub fn confident(&self) -> bool {
        self.probability >= self.threshold
    }
}

/// Risk signals and intent of one comment version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Understanding {
    pub intent: Intent,
    pub intent_probability: f32,
    /// Every signal the heads know, in [`RiskSignal::ALL`] order.
    pub signals: Vec<SignalReading>,
    /// Version of the heads that read it.
    pub model: String,
}

impl Understanding {
    pub fn signal(&self, signal: RiskSignal) -> Option<&SignalReading> {
        self.signals.iter().find(|s| s.signal == signal)
    }

    /// Signals the model is confident of, most probable first.
    pub fn confident(&self) -> Vec<&SignalReading> {
        let mut v: Vec<_> = self.signals.iter().filter(|s| s.confident()).collect();
        v.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        v
    }
}

/// A comment's unit-length sentence embedding, kept with its triage so that drafting can
/// rank approved replies without a model. Stored as int8 with one scale per vector
/// (serialised `{"scale": f32, "q": base64}`): 4 times smaller than float32, and a cosine
/// within 0.01 of the original.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    scale: f32,
    q: Vec<i8>,
}

impl Embedding {
    pub fn quantize(v: &[f32]) -> Self {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        Self {
            scale,
            q: v.iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                .collect(),
        }
    }

    pub fn dim(&self) -> usize {
        self.q.len()
    }

    pub fn values(&self) -> Vec<f32> {
        self.q.iter().map(|&x| f32::from(x) * self.scale).collect()
    }

    /// Cosine similarity with another vector of the same width (0 when widths differ).
    pub fn cosine(&self, other: &[f32]) -> f32 {
        cosine(
            self.q.iter().map(|&x| f32::from(x)),
            other.iter().copied(),
            other.len() == self.q.len(),
        )
    }

    /// Cosine similarity with another kept embedding (the scales cancel out): what
    /// retrieval ranks replies by, without decoding either vector.
    pub fn cosine_to(&self, other: &Embedding) -> f32 {
        cosine(
            self.q.iter().map(|&x| f32::from(x)),
            other.q.iter().map(|&y| f32::from(y)),
            other.q.len() == self.q.len(),
        )
    }
}

fn cosine(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>, same_width: bool) -> f32 {
    if !same_width {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

#[derive(Serialize, Deserialize)]
struct EmbeddingRepr {
    scale: f32,
    q: String,
}

impl Serialize for Embedding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        let bytes: Vec<u8> = self.q.iter().map(|&x| x as u8).collect();
        EmbeddingRepr {
            scale: self.scale,
            q: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Embedding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let r = EmbeddingRepr::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(r.q.as_bytes())
            .map_err(serde::de::Error::custom)?;
        if !r.scale.is_finite() || r.scale <= 0.0 {
            return Err(serde::de::Error::custom("embedding scale must be positive"));
        }
        Ok(Self {
            scale: r.scale,
            q: bytes.into_iter().map(|b| b as i8).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedding_keeps_its_direction_through_int8_and_json() {
        let v: Vec<f32> = (0..384)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
        let e = Embedding::quantize(&v);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.len() < 600, "{} bytes", json.len());
        let back: Embedding = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert!(back.cosine(&v) > 0.999, "{}", back.cosine(&v));
        let restored = back.values();
        let dot: f32 = restored.iter().zip(&v).map(|(a, b)| a * b).sum();
        assert!((dot - 1.0).abs() < 0.01);
        assert_eq!(back.cosine(&v[..10]), 0.0);
        // between two kept embeddings, the same cosine as with the decoded values
        let w: Vec<f32> = v.iter().rev().copied().collect();
        let other = Embedding::quantize(&w);
        assert!((back.cosine_to(&other) - back.cosine(&other.values())).abs() < 1e-5);
        assert!((back.cosine_to(&back) - 1.0).abs() < 1e-5);
        assert!(serde_json::from_str::<Embedding>(r#"{"scale":0,"q":""}"#).is_err());
        assert!(serde_json::from_str::<Embedding>(r#"{"scale":1,"q":"%%"}"#).is_err());
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for s in RiskSignal::ALL {
            assert_eq!(RiskSignal::parse(s.as_str()), Some(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for i in Intent::ALL {
            assert_eq!(Intent::parse(i.as_str()), Some(*i));
            assert_eq!(
                serde_json::to_string(i).unwrap(),
                format!("\"{}\"", i.as_str())
            );
        }
        assert_eq!(RiskSignal::ALL.len(), 10);
        assert_eq!(Intent::ALL.len(), 22);
        assert_eq!(RiskSignal::parse("fire"), None);
    }

    #[test]
    fn strength_ramps_from_half_the_threshold() {
        let r = |p| SignalReading {
            signal: RiskSignal::LegalThreat,
            probability: p,
            threshold: 0.6,
            examples: vec![],
        };
        assert_eq!(r(0.2).strength(), 0.0);
        assert_eq!(r(0.3).strength(), 0.0);
        assert!((r(0.45).strength() - 0.5).abs() < 1e-6);
        assert_eq!(r(0.6).strength(), 1.0);
        assert_eq!(r(0.99).strength(), 1.0);
        assert!(r(0.6).confident() && !r(0.59).confident());
    }

    #[test]
    fn only_churn_is_not_urgent_and_five_are_critical() {
        let urgent: Vec<_> = RiskSignal::ALL.iter().filter(|s| s.is_urgent()).collect();
        assert_eq!(urgent.len(), 9);
        let critical: Vec<_> = RiskSignal::ALL.iter().filter(|s| s.is_critical()).collect();
        assert_eq!(critical.len(), 5);
        assert!(critical.iter().all(|s| s.is_urgent()));
    }
}
