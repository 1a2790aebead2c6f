//! The urgency score: 0-100, the sum of weighted signals, each with its evidence.
//!
//! score = min(100, sum of round(weight x strength)) over the signals below, strength in
//! [0, 1]. A comment is escalated at `escalate_at` or above; its tier is the first whose
//! `min_score` it reaches.
//!
//! Risk signals (safety, violence, legal, press, virality, outage, data leak, abuse, scam,
//! churn) come from the heads learned over the sentence embedding ([`Understanding`]): a
//! confident reading counts in full whatever the sentiment, a hesitant one in part (see
//! [`SignalReading::strength`]). The French and English phrase list is then evidence: a
//! matched phrase is shown beside the learned probability and the nearest labelled
//! examples, it does not add points. Without a reading (heads not installed) the phrases
//! count, damped by P(positive) so that "merci d'avoir réparé la panne" pages nobody.
//!
//! By default every urgent risk signal weighs at least the default threshold, so that one
//! confident reading escalates alone: the heads' thresholds are chosen for that rule (any
//! urgent signal confident). The critical ones (safety, violence, legal threat, data leak,
//! press) weigh more and reach a higher tier; `UrgencyPolicy::warnings` names a brand
//! whose settings would let a critical one alone stay below its threshold.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::comment::{Author, Platform, SentimentScore};
use crate::config::TierConfig;
use crate::lexicon::{self, Category};
use crate::understanding::{RiskSignal, SignalReading, Understanding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    NegativeSentiment,
    SafetyRisk,
    ViolenceThreat,
    LegalThreat,
    PressOrCrisis,
    Virality,
    Outage,
    DataLeak,
    Churn,
    Abuse,
    Scam,
    AuthorReach,
    Vip,
    RepeatComplaint,
}

impl Signal {
    /// The urgency signal a learned risk signal scores as.
    pub fn of_risk(risk: RiskSignal) -> Signal {
        match risk {
            RiskSignal::SafetyRisk => Signal::SafetyRisk,
            RiskSignal::ViolenceThreat => Signal::ViolenceThreat,
            RiskSignal::LegalThreat => Signal::LegalThreat,
            RiskSignal::PressMedia => Signal::PressOrCrisis,
            RiskSignal::Virality => Signal::Virality,
            RiskSignal::Outage => Signal::Outage,
            RiskSignal::DataLeak => Signal::DataLeak,
            RiskSignal::HateAbuse => Signal::Abuse,
            RiskSignal::Scam => Signal::Scam,
            RiskSignal::Churn => Signal::Churn,
        }
    }
}

/// The risk signals the phrase list finds in a text (what it would flag on its own).
pub fn phrase_risks(text: &str) -> BTreeSet<RiskSignal> {
    lexicon::scan(text)
        .into_iter()
        .flat_map(|h| risks_of(h.category).iter().copied())
        .collect()
}

/// The learned signals a phrase category is evidence for.
fn risks_of(category: Category) -> &'static [RiskSignal] {
    match category {
        Category::Safety => &[RiskSignal::SafetyRisk],
        Category::Legal => &[RiskSignal::LegalThreat],
        Category::Press => &[RiskSignal::PressMedia, RiskSignal::Virality],
        Category::Outage => &[RiskSignal::Outage],
        Category::DataLeak => &[RiskSignal::DataLeak, RiskSignal::Scam],
        Category::Churn => &[RiskSignal::Churn],
        Category::Abuse => &[RiskSignal::HateAbuse, RiskSignal::ViolenceThreat],
    }
}

/// Points per signal at full strength.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub negative_sentiment: u8,
    pub safety_risk: u8,
    pub violence_threat: u8,
    pub legal_threat: u8,
    pub press_or_crisis: u8,
    pub virality: u8,
    pub outage: u8,
    pub data_leak: u8,
    pub churn: u8,
    pub abuse: u8,
    pub scam: u8,
    pub author_reach: u8,
    pub vip: u8,
    pub repeat_complaint: u8,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            negative_sentiment: 40,
            safety_risk: 60,
            violence_threat: 60,
            legal_threat: 55,
            press_or_crisis: 55,
            virality: 50,
            outage: 50,
            data_leak: 55,
            churn: 20,
            abuse: 50,
            scam: 50,
            author_reach: 15,
            vip: 25,
            repeat_complaint: 20,
        }
    }
}

impl Weights {
    pub const NAMES: [&'static str; 14] = [
        "negative_sentiment",
        "safety_risk",
        "violence_threat",
        "legal_threat",
        "press_or_crisis",
        "virality",
        "outage",
        "data_leak",
        "churn",
        "abuse",
        "scam",
        "author_reach",
        "vip",
        "repeat_complaint",
    ];

    fn slot(&mut self, name: &str) -> Option<&mut u8> {
        Some(match name {
            "negative_sentiment" => &mut self.negative_sentiment,
            "safety_risk" => &mut self.safety_risk,
            "violence_threat" => &mut self.violence_threat,
            "legal_threat" => &mut self.legal_threat,
            "press_or_crisis" => &mut self.press_or_crisis,
            "virality" => &mut self.virality,
            "outage" => &mut self.outage,
            "data_leak" => &mut self.data_leak,
            "churn" => &mut self.churn,
            "abuse" => &mut self.abuse,
            "scam" => &mut self.scam,
            "author_reach" => &mut self.author_reach,
            "vip" => &mut self.vip,
            "repeat_complaint" => &mut self.repeat_complaint,
            _ => return None,
        })
    }

    /// Sets a weight by name; false for an unknown name.
    pub fn set(&mut self, name: &str, value: u8) -> bool {
        self.slot(name).map(|w| *w = value).is_some()
    }

    pub fn get(&self, signal: Signal) -> u8 {
        match signal {
            Signal::NegativeSentiment => self.negative_sentiment,
            Signal::SafetyRisk => self.safety_risk,
            Signal::ViolenceThreat => self.violence_threat,
            Signal::LegalThreat => self.legal_threat,
            Signal::PressOrCrisis => self.press_or_crisis,
            Signal::Virality => self.virality,
            Signal::Outage => self.outage,
            Signal::DataLeak => self.data_leak,
            Signal::Churn => self.churn,
            Signal::Abuse => self.abuse,
            Signal::Scam => self.scam,
            Signal::AuthorReach => self.author_reach,
            Signal::Vip => self.vip,
            Signal::RepeatComplaint => self.repeat_complaint,
        }
    }
}

/// A brand's urgency rules.
#[derive(Debug, Clone, PartialEq)]
pub struct UrgencyPolicy {
    pub escalate_at: u8,
    pub weights: Weights,
    /// Highest `min_score` first.
    pub tiers: Vec<TierConfig>,
    /// `(platform, author id or name)` of the brand's VIPs.
    pub vip: BTreeSet<(Platform, String)>,
}

impl UrgencyPolicy {
    pub const DEFAULT_ESCALATE_AT: u8 = 50;

    pub fn default_tiers() -> Vec<TierConfig> {
        let tier = |name: &str, min_score, respond_within_minutes| TierConfig {
            name: name.into(),
            min_score,
            respond_within_minutes,
        };
        vec![tier("P1", 80, 15), tier("P2", 60, 60), tier("P3", 50, 240)]
    }
}

impl UrgencyPolicy {
    /// Settings that let a critical risk signal, read with full confidence, stay below the
    /// escalation threshold on its own (it would then need a second signal to page anyone).
    pub fn warnings(&self) -> Vec<String> {
        RiskSignal::ALL
            .iter()
            .filter(|s| s.is_critical())
            .filter_map(|&s| {
                let signal = Signal::of_risk(s);
                let w = self.weights.get(signal);
                (w < self.escalate_at).then(|| {
                    format!(
                        "a confident {s} reading alone scores {w} ({} weight), below the escalation threshold {}: it will not escalate on its own",
                        serde_json::to_value(signal)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        self.escalate_at
                    )
                })
            })
            .collect()
    }
}

impl Default for UrgencyPolicy {
    fn default() -> Self {
        Self {
            escalate_at: Self::DEFAULT_ESCALATE_AT,
            weights: Weights::default(),
            tiers: Self::default_tiers(),
            vip: BTreeSet::new(),
        }
    }
}

/// One signal's part of the score, with what triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub signal: Signal,
    pub points: u8,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Urgency {
    pub score: u8,
    pub escalate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_within_minutes: Option<u32>,
    /// Largest contribution first.
    pub reasons: Vec<Reason>,
}

/// What urgency is computed from.
pub struct Assessment<'a> {
    pub platform: Platform,
    /// `None` for a comment without text (a photo): no words to scan.
    pub text: Option<&'a str>,
    pub author: &'a Author,
    /// `None` when there was no text to read: what is known of the author still counts.
    pub sentiment: Option<&'a SentimentScore>,
    /// Earlier negative comments of the same author in the same thread.
    pub earlier_complaints: u32,
    /// Risk signals learned from the embedding; `None` without text or without heads.
    pub understanding: Option<&'a Understanding>,
}

fn learned_evidence(r: &SignalReading, phrase: Option<&str>) -> String {
    let mut e = format!(
        "learned P = {:.2} (confident from {:.2})",
        r.probability, r.threshold
    );
    if let Some(p) = phrase {
        e.push_str(&format!("; phrase \"{p}\""));
    }
    if !r.examples.is_empty() {
        let like: Vec<String> = r.examples.iter().map(|x| format!("\"{x}\"")).collect();
        e.push_str(&format!("; like {}", like.join(", ")));
    }
    e
}

pub fn assess(policy: &UrgencyPolicy, a: &Assessment<'_>) -> Urgency {
    let mut reasons = Vec::new();
    let mut add = |signal: Signal, strength: f32, evidence: String| {
        let points =
            (f32::from(policy.weights.get(signal)) * strength.clamp(0.0, 1.0)).round() as u8;
        if points > 0 {
            reasons.push(Reason {
                signal,
                points,
                evidence,
            });
        }
    };

    // P(negative) from 0.5 to 1 maps to strength 0 to 1: only a clear lean counts.
    let neg = a.sentiment.map_or(0.0, |s| s.negative);
    if a.sentiment.is_some() {
        add(
            Signal::NegativeSentiment,
            (neg - 0.5) / 0.5,
            format!("P(negative) = {neg:.2}"),
        );
    }

    let hits = lexicon::scan(a.text.unwrap_or_default());
    match a.understanding {
        Some(u) => {
            for r in &u.signals {
                let strength = r.strength();
                if strength <= 0.0 {
                    continue;
                }
                let phrase = hits
                    .iter()
                    .find(|h| risks_of(h.category).contains(&r.signal))
                    .map(|h| h.phrase);
                add(
                    Signal::of_risk(r.signal),
                    strength,
                    learned_evidence(r, phrase),
                );
            }
        }
        None => {
            let positive = a.sentiment.map_or(0.0, |s| s.positive);
            let damping = 1.0 - positive;
            for hit in hits {
                let signal = match hit.category {
                    Category::Safety => Signal::SafetyRisk,
                    Category::Legal => Signal::LegalThreat,
                    Category::Press => Signal::PressOrCrisis,
                    Category::Outage => Signal::Outage,
                    Category::DataLeak => Signal::DataLeak,
                    Category::Churn => Signal::Churn,
                    Category::Abuse => Signal::Abuse,
                };
                let evidence = if damping < 0.99 {
                    format!(
                        "\"{}\" (x{damping:.2}: P(positive) = {positive:.2})",
                        hit.phrase
                    )
                } else {
                    format!("\"{}\"", hit.phrase)
                };
                add(signal, damping, evidence);
            }
        }
    }

    if let Some(followers) = a.author.followers.filter(|&f| f >= 1000) {
        // 1,000 followers: 0.5; 1,000,000 and more: 1.
        let strength = (followers as f32).log10() / 6.0;
        add(
            Signal::AuthorReach,
            strength,
            format!("{followers} followers"),
        );
    }

    let is_vip = policy.vip.contains(&(a.platform, a.author.id.clone()))
        || a.author
            .name
            .as_ref()
            .is_some_and(|n| policy.vip.contains(&(a.platform, n.clone())));
    if is_vip {
        add(
            Signal::Vip,
            1.0,
            format!(
                "{} is on the VIP list",
                a.author.name.as_deref().unwrap_or(&a.author.id)
            ),
        );
    }

    if a.earlier_complaints > 0 && neg >= 0.5 {
        let n = a.earlier_complaints;
        add(
            Signal::RepeatComplaint,
            n.min(3) as f32 / 3.0,
            format!("{n} earlier negative comment(s) by this author in the thread"),
        );
    }

    reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
    let score = reasons
        .iter()
        .map(|r| u32::from(r.points))
        .sum::<u32>()
        .min(100) as u8;
    let escalate = score >= policy.escalate_at;
    let tier = policy
        .tiers
        .iter()
        .find(|t| score >= t.min_score)
        .filter(|_| escalate);
    Urgency {
        score,
        escalate,
        tier: tier.map(|t| t.name.clone()),
        respond_within_minutes: tier.map(|t| t.respond_within_minutes),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::Sentiment;

    fn sentiment(negative: f32, neutral: f32, positive: f32) -> SentimentScore {
        let label = if negative >= neutral && negative >= positive {
            Sentiment::Negative
        } else if positive >= neutral {
            Sentiment::Positive
        } else {
            Sentiment::Neutral
        };
        SentimentScore {
            label,
            negative,
            neutral,
            positive,
            model: "test".into(),
        }
    }

    fn author() -> Author {
        Author {
            id: "77".into(),
            name: Some("Jeanne".into()),
            followers: None,
        }
    }

    fn assess_text(text: &str, s: &SentimentScore) -> Urgency {
        assess(
            &UrgencyPolicy::default(),
            &Assessment {
                platform: Platform::Facebook,
                text: Some(text),
                author: &author(),
                sentiment: Some(s),
                earlier_complaints: 0,
                understanding: None,
            },
        )
    }

    #[test]
    fn a_legal_threat_with_strong_negative_sentiment_is_p1() {
        let u = assess_text(
            "Mon enfant s'est brûlé avec votre produit, j'appelle mon avocat.",
            &sentiment(0.95, 0.04, 0.01),
        );
        assert!(u.escalate);
        assert_eq!(u.tier.as_deref(), Some("P1"));
        assert_eq!(u.respond_within_minutes, Some(15));
        let signals: Vec<Signal> = u.reasons.iter().map(|r| r.signal).collect();
        assert!(signals.contains(&Signal::SafetyRisk), "{signals:?}");
        assert!(signals.contains(&Signal::LegalThreat));
        assert!(signals.contains(&Signal::NegativeSentiment));
        assert!(u.reasons.iter().any(|r| r.evidence.contains("avocat")));
        // sorted by contribution, total capped at 100
        assert!(u.reasons.windows(2).all(|w| w[0].points >= w[1].points));
        assert_eq!(u.score, 100);
    }

    #[test]
    fn a_neutral_question_is_not_urgent() {
        let u = assess_text(
            "Vous ouvrez à quelle heure le dimanche ?",
            &sentiment(0.05, 0.9, 0.05),
        );
        assert_eq!(u.score, 0);
        assert!(!u.escalate);
        assert!(u.reasons.is_empty());
        assert_eq!(u.tier, None);
    }

    #[test]
    fn positive_mentions_of_an_outage_are_damped() {
        let happy = assess_text(
            "Merci d'avoir réparé la panne si vite !",
            &sentiment(0.02, 0.08, 0.9),
        );
        let angry = assess_text(
            "Encore une panne, c'est inadmissible",
            &sentiment(0.9, 0.08, 0.02),
        );
        assert!(happy.score <= 5, "{happy:?}"); // 45 points at full strength, x0.10
        assert!(angry.score >= 60, "{angry:?}");
    }

    #[test]
    fn reach_vip_and_repeats_add_up() {
        let mut policy = UrgencyPolicy::default();
        policy.vip.insert((Platform::Facebook, "Jeanne".into()));
        let a = Author {
            followers: Some(1_000_000),
            ..author()
        };
        let s = sentiment(0.75, 0.2, 0.05);
        let u = assess(
            &policy,
            &Assessment {
                platform: Platform::Facebook,
                text: Some("Toujours pas de réponse"),
                author: &a,
                sentiment: Some(&s),
                earlier_complaints: 3,
                understanding: None,
            },
        );
        let points = |sig| u.reasons.iter().find(|r| r.signal == sig).map(|r| r.points);
        assert_eq!(points(Signal::NegativeSentiment), Some(20));
        assert_eq!(points(Signal::AuthorReach), Some(15));
        assert_eq!(points(Signal::Vip), Some(25));
        assert_eq!(points(Signal::RepeatComplaint), Some(20));
        assert_eq!(u.score, 80);
        assert_eq!(u.tier.as_deref(), Some("P1"));
    }

    #[test]
    fn without_text_only_the_author_counts() {
        let mut policy = UrgencyPolicy::default();
        policy.vip.insert((Platform::Facebook, "Jeanne".into()));
        let a = Author {
            followers: Some(1_000_000),
            ..author()
        };
        let u = assess(
            &policy,
            &Assessment {
                platform: Platform::Facebook,
                text: None,
                author: &a,
                sentiment: None,
                earlier_complaints: 3,
                understanding: None,
            },
        );
        let signals: Vec<Signal> = u.reasons.iter().map(|r| r.signal).collect();
        assert_eq!(signals, [Signal::Vip, Signal::AuthorReach]);
        assert_eq!(u.score, 40);
    }

    fn reading(signal: RiskSignal, probability: f32) -> SignalReading {
        SignalReading {
            signal,
            probability,
            threshold: 0.6,
            examples: vec!["je saisis le tribunal".into()],
        }
    }

    fn understood(signals: Vec<SignalReading>) -> Understanding {
        Understanding {
            intent: crate::understanding::Intent::LegalThreat,
            intent_probability: 0.8,
            signals,
            model: "heads-test".into(),
        }
    }

    fn assess_understood(text: &str, s: &SentimentScore, u: &Understanding) -> Urgency {
        assess(
            &UrgencyPolicy::default(),
            &Assessment {
                platform: Platform::Facebook,
                text: Some(text),
                author: &author(),
                sentiment: Some(s),
                earlier_complaints: 0,
                understanding: Some(u),
            },
        )
    }

    #[test]
    fn one_confident_critical_signal_escalates_alone_whatever_the_sentiment() {
        for risk in RiskSignal::ALL.iter().filter(|r| r.is_critical()) {
            let u = understood(vec![reading(*risk, 0.9)]);
            // worded without any listed phrase, and read as positive
            let v = assess_understood("bon courage pour la suite", &sentiment(0.02, 0.08, 0.9), &u);
            assert!(v.escalate, "{risk}: {v:?}");
            assert_eq!(v.reasons.len(), 1, "{v:?}");
            assert_eq!(v.reasons[0].signal, Signal::of_risk(*risk));
            assert!(
                v.reasons[0]
                    .evidence
                    .contains("learned P = 0.90 (confident from 0.60)")
                    && v.reasons[0]
                        .evidence
                        .contains("like \"je saisis le tribunal\""),
                "{v:?}"
            );
        }
    }

    #[test]
    fn a_phrase_is_evidence_not_a_gate_when_the_model_has_read_the_text() {
        // "plainte" is on the list, but the model reads no legal threat: no points
        let none = understood(vec![reading(RiskSignal::LegalThreat, 0.05)]);
        let s = sentiment(0.3, 0.4, 0.3);
        let v = assess_understood("je vais porter plainte contre mon chat", &s, &none);
        assert!(v.reasons.is_empty(), "{v:?}");
        // read confidently, the phrase is quoted beside the probability
        let sure = understood(vec![reading(RiskSignal::LegalThreat, 0.95)]);
        let v = assess_understood("je vais porter plainte", &s, &sure);
        assert_eq!(v.reasons[0].points, 55);
        assert!(
            v.reasons[0].evidence.contains("phrase \"plainte\""),
            "{v:?}"
        );
        // a hesitant reading counts in part: 0.45 of 0.6 is half strength
        let half = understood(vec![reading(RiskSignal::LegalThreat, 0.45)]);
        let v = assess_understood("on verra ce que dira mon conseil", &s, &half);
        assert!((27..=28).contains(&v.reasons[0].points), "{v:?}");
        assert!(!v.escalate);
    }

    #[test]
    fn hesitant_signals_add_up_with_sentiment() {
        let u = understood(vec![
            reading(RiskSignal::Outage, 0.45),
            reading(RiskSignal::Churn, 0.2),
        ]);
        let calm = assess_understood("plus rien depuis ce matin", &sentiment(0.3, 0.6, 0.1), &u);
        assert!((24..=26).contains(&calm.score), "{calm:?}");
        assert!(!calm.escalate);
        let angry = assess_understood("plus rien depuis ce matin", &sentiment(0.9, 0.08, 0.02), &u);
        assert!(angry.escalate, "{angry:?}");
    }

    #[test]
    fn the_default_rules_let_every_critical_signal_escalate_alone() {
        assert!(UrgencyPolicy::default().warnings().is_empty());
        let mut policy = UrgencyPolicy::default();
        policy.weights.set("legal_threat", 30);
        policy.escalate_at = 58;
        let w = policy.warnings();
        // legal (30) and press/data leak (55) are under 58; safety and violence (60) are not
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("legal_threat") && w[0].contains("scores 30"),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|x| x.contains("press_media") && x.contains("press_or_crisis weight"))
        );
    }

    #[test]
    fn weights_and_thresholds_come_from_the_brand() {
        let mut policy = UrgencyPolicy::default();
        policy.weights.set("negative_sentiment", 100);
        policy.escalate_at = 95;
        let s = sentiment(0.96, 0.02, 0.02);
        let u = assess(
            &policy,
            &Assessment {
                platform: Platform::Instagram,
                text: Some("nul"),
                author: &author(),
                sentiment: Some(&s),
                earlier_complaints: 0,
                understanding: None,
            },
        );
        assert_eq!(u.score, 92);
        assert!(!u.escalate);
        assert_eq!(u.tier, None);
    }
}
