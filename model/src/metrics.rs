//! The evaluation figures, computed as the model recipe computes them
//! (model/recipe/vigie_recipe/evaluate.py), so that both report the same numbers.

use serde::Serialize;

use crate::{Probabilities, Sentiment};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figures {
    pub n: usize,
    pub accuracy: f64,
    /// Mean F1 over the labels present in the gold data.
    pub macro_f1: f64,
    /// Rows: gold negative/neutral/positive; columns: predicted.
    pub confusion: [[usize; 3]; 3],
    /// Expected calibration error, 10 equal-width confidence bins.
    pub ece: f64,
    /// On texts labelled negative or positive: is P(positive) >= P(negative) right?
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_accuracy: Option<f64>,
}

pub fn figures(rows: &[(Sentiment, Probabilities)]) -> Figures {
    let n = rows.len();
    let mut confusion = [[0usize; 3]; 3];
    for (gold, p) in rows {
        confusion[*gold as usize][p.top().0 as usize] += 1;
    }
    let correct: usize = (0..3).map(|c| confusion[c][c]).sum();
    let present: Vec<usize> = (0..3)
        .filter(|&c| confusion[c].iter().sum::<usize>() > 0)
        .collect();
    let f1: Vec<f64> = present
        .iter()
        .map(|&c| {
            let tp = confusion[c][c];
            let fp: usize = (0..3).filter(|&g| g != c).map(|g| confusion[g][c]).sum();
            let fn_: usize = (0..3).filter(|&p| p != c).map(|p| confusion[c][p]).sum();
            if tp == 0 {
                0.0
            } else {
                2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
            }
        })
        .collect();
    let polar: Vec<&(Sentiment, Probabilities)> = rows
        .iter()
        .filter(|(g, _)| *g != Sentiment::Neutral)
        .collect();
    let binary_accuracy = (!polar.is_empty()).then(|| {
        let right = polar
            .iter()
            .filter(|(g, p)| {
                let said = if p.positive >= p.negative {
                    Sentiment::Positive
                } else {
                    Sentiment::Negative
                };
                said == *g
            })
            .count();
        right as f64 / polar.len() as f64
    });
    Figures {
        n,
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        macro_f1: if f1.is_empty() {
            0.0
        } else {
            f1.iter().sum::<f64>() / f1.len() as f64
        },
        confusion,
        ece: ece(rows, 10),
        binary_accuracy,
    }
}

fn ece(rows: &[(Sentiment, Probabilities)], bins: usize) -> f64 {
    let n = rows.len() as f64;
    let mut total = 0.0;
    for b in 0..bins {
        let (lo, hi) = (b as f64 / bins as f64, (b + 1) as f64 / bins as f64);
        let in_bin: Vec<(bool, f64)> = rows
            .iter()
            .map(|(g, p)| {
                let (label, conf) = p.top();
                (label == *g, f64::from(conf))
            })
            .filter(|&(_, c)| {
                if b == 0 {
                    c >= lo && c <= hi
                } else {
                    c > lo && c <= hi
                }
            })
            .collect();
        if in_bin.is_empty() {
            continue;
        }
        let k = in_bin.len() as f64;
        let acc = in_bin.iter().filter(|(ok, _)| *ok).count() as f64 / k;
        let conf = in_bin.iter().map(|(_, c)| c).sum::<f64>() / k;
        total += k / n * (acc - conf).abs();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(negative: f32, neutral: f32, positive: f32) -> Probabilities {
        Probabilities {
            negative,
            neutral,
            positive,
        }
    }

    #[test]
    fn perfect_predictions_score_one() {
        let rows = vec![
            (Sentiment::Negative, p(0.9, 0.05, 0.05)),
            (Sentiment::Neutral, p(0.1, 0.8, 0.1)),
            (Sentiment::Positive, p(0.0, 0.0, 1.0)),
        ];
        let f = figures(&rows);
        assert_eq!(f.accuracy, 1.0);
        assert_eq!(f.macro_f1, 1.0);
        assert_eq!(f.confusion, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
        assert_eq!(f.binary_accuracy, Some(1.0));
    }

    #[test]
    fn macro_f1_averages_only_gold_labels() {
        // Binary gold data: a neutral prediction is wrong for both classes.
        let rows = vec![
            (Sentiment::Negative, p(0.6, 0.3, 0.1)),
            (Sentiment::Negative, p(0.2, 0.5, 0.3)),
            (Sentiment::Positive, p(0.1, 0.2, 0.7)),
            (Sentiment::Positive, p(0.1, 0.2, 0.7)),
        ];
        let f = figures(&rows);
        // negative: tp 1, fn 1 -> 2/3; positive: tp 2 -> 1.0
        assert!((f.macro_f1 - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(f.accuracy, 0.75);
        // binary: the neutral-predicted negative has P(pos) 0.3 >= P(neg) 0.2 -> wrong
        assert_eq!(f.binary_accuracy, Some(0.75));
    }

    #[test]
    fn ece_is_the_gap_between_confidence_and_accuracy() {
        // Two texts at confidence 0.9, one right: |0.5 - 0.9| = 0.4.
        let rows = vec![
            (Sentiment::Negative, p(0.9, 0.05, 0.05)),
            (Sentiment::Positive, p(0.9, 0.05, 0.05)),
        ];
        assert!((figures(&rows).ece - 0.4).abs() < 1e-6);
    }
}
