//! The urgency score: 0-100, the sum of weighted signals, each with its evidence.
//!
//! score = min(100, sum of round(weight x strength)) over the signals below, strength in
//! [0, 1]. Category signals (safety, legal, press, outage, data leak, churn, abuse) come
//! from French and English phrases and are damped by P(positive), so that "merci d'avoir
//! réparé la panne" does not page anyone. A comment is escalated at `escalate_at` or above;
//! its tier is the first whose `min_score` it reaches.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::comment::{Author, Platform, SentimentScore};
use crate::config::TierConfig;
use crate::lexicon::{self, Category};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    NegativeSentiment,
    SafetyRisk,
    LegalThreat,
    PressOrCrisis,
    Outage,
    DataLeak,
    Churn,
    Abuse,
    AuthorReach,
    Vip,
    RepeatComplaint,
}

/// Points per signal at full strength.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub negative_sentiment: u8,
    pub safety_risk: u8,
    pub legal_threat: u8,
    pub press_or_crisis: u8,
    pub outage: u8,
    pub data_leak: u8,
    pub churn: u8,
    pub abuse: u8,
    pub author_reach: u8,
    pub vip: u8,
    pub repeat_complaint: u8,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            negative_sentiment: 40,
            safety_risk: 50,
            legal_threat: 40,
            press_or_crisis: 35,
            outage: 30,
            data_leak: 45,
            churn: 20,
            abuse: 25,
            author_reach: 15,
            vip: 25,
            repeat_complaint: 20,
        }
    }
}

impl Weights {
    pub const NAMES: [&'static str; 11] = [
        "negative_sentiment",
        "safety_risk",
        "legal_threat",
        "press_or_crisis",
        "outage",
        "data_leak",
        "churn",
        "abuse",
        "author_reach",
        "vip",
        "repeat_complaint",
    ];

    fn slot(&mut self, name: &str) -> Option<&mut u8> {
        Some(match name {
            "negative_sentiment" => &mut self.negative_sentiment,
            "safety_risk" => &mut self.safety_risk,
            "legal_threat" => &mut self.legal_threat,
            "press_or_crisis" => &mut self.press_or_crisis,
            "outage" => &mut self.outage,
            "data_leak" => &mut self.data_leak,
            "churn" => &mut self.churn,
            "abuse" => &mut self.abuse,
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

    fn get(&self, signal: Signal) -> u8 {
        match signal {
            Signal::NegativeSentiment => self.negative_sentiment,
            Signal::SafetyRisk => self.safety_risk,
            Signal::LegalThreat => self.legal_threat,
            Signal::PressOrCrisis => self.press_or_crisis,
            Signal::Outage => self.outage,
            Signal::DataLeak => self.data_leak,
            Signal::Churn => self.churn,
            Signal::Abuse => self.abuse,
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

    let positive = a.sentiment.map_or(0.0, |s| s.positive);
    let damping = 1.0 - positive;
    for hit in lexicon::scan(a.text.unwrap_or_default()) {
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
        assert!(happy.score < 5, "{happy:?}");
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
            },
        );
        let signals: Vec<Signal> = u.reasons.iter().map(|r| r.signal).collect();
        assert_eq!(signals, [Signal::Vip, Signal::AuthorReach]);
        assert_eq!(u.score, 40);
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
            },
        );
        assert_eq!(u.score, 92);
        assert!(!u.escalate);
        assert_eq!(u.tier, None);
    }
}
