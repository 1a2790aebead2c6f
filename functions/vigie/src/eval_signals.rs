//! `vigie eval --signals`: urgency, risk signals and intent on labelled comments, learned
//! heads beside the phrase list alone (vigie_classify::labelled computes them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use vigie_classify::labelled::{self, Group, Prf};
use vigie_core::understanding::RiskSignal;
use vigie_model::SentimentModel;

pub fn evaluate(
    model: &SentimentModel,
    paths: &[PathBuf],
) -> anyhow::Result<BTreeMap<String, Group>> {
    let rows = labelled::read(paths)?;
    let progress = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} comments ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let groups = labelled::evaluate(model, &rows, &|n| progress.inc(n as u64))?;
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
