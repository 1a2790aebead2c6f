use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use vigie_model::{Probabilities, Sentiment};

use crate::ModelArgs;
use vigie_model::metrics::{Figures, figures};

#[derive(Args)]
pub struct EvalArgs {
    /// Labelled JSONL: {"text", "label": negative|neutral|positive, "lang"?, "corpus"?,
    /// "kind"?}. `scripts/build-model` writes model/dist/eval/umsab-val.jsonl and
    /// reviews-test.jsonl; model/sentiment/heldout holds customer-service comments.
    #[arg(long, required_unless_present = "signals")]
    pub data: Vec<PathBuf>,
    /// Labelled comments for urgency, risk signals and intent (files or folders of JSONL,
    /// model/signals/data/GUIDE.md), e.g. model/signals/data/heldout.
    #[arg(long)]
    pub signals: Vec<PathBuf>,
    /// How rows are grouped.
    #[arg(long, value_enum, default_value_t = GroupBy::CorpusLang)]
    pub by: GroupBy,
    /// One JSON document on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GroupBy {
    Lang,
    Corpus,
    CorpusLang,
    /// `<lang>/<kind>`: what makes a comment hard (model/sentiment/GUIDE.md), e.g. sarcasm.
    Kind,
}

#[derive(Deserialize)]
struct Labelled {
    text: String,
    label: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    corpus: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<(Labelled, Sentiment)>> {
    let mut rows = Vec::new();
    for path in paths {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let row: Labelled = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}", path.display(), n + 1))?;
            let gold = Sentiment::parse(&row.label).with_context(|| {
                format!(
                    "{}:{}: label {:?} is not negative, neutral or positive",
                    path.display(),
                    n + 1,
                    row.label
                )
            })?;
            if row.text.trim().is_empty() {
                anyhow::bail!("{}:{}: empty text", path.display(), n + 1);
            }
            rows.push((row, gold));
        }
    }
    Ok(rows)
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let sentiment = if args.data.is_empty() {
        None
    } else {
        Some(sentiment(&args, &model)?)
    };
    let signals = if args.signals.is_empty() {
        None
    } else {
        Some(crate::eval_signals::evaluate(&model, &args.signals)?)
    };
    if args.json {
        let mut doc = serde_json::json!({ "model": model.version() });
        if let Some(report) = &sentiment {
            doc["groups"] = serde_json::to_value(report)?;
        }
        if let Some(groups) = &signals {
            doc["heads"] = serde_json::json!(model.heads().map(|h| h.version()));
            doc["signals"] = crate::eval_signals::json(groups);
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("model {}", model.version());
    if let Some(report) = &sentiment {
        print_sentiment(report);
    }
    if let Some(groups) = &signals {
        crate::eval_signals::print(&model, groups);
    }
    Ok(())
}

fn sentiment(
    args: &EvalArgs,
    model: &vigie_model::SentimentModel,
) -> anyhow::Result<BTreeMap<String, Figures>> {
    let rows = read(&args.data)?;
    let progress = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} texts ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let mut predicted: Vec<Probabilities> = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(512) {
        let texts: Vec<&str> = chunk.iter().map(|(r, _)| r.text.as_str()).collect();
        predicted.extend(model.classify(&texts)?.into_iter().map(|p| p.probabilities));
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let key = |r: &Labelled| {
        let lang = r.lang.clone().unwrap_or_else(|| "-".into());
        let corpus = r.corpus.clone().unwrap_or_else(|| "-".into());
        match args.by {
            GroupBy::Lang => lang,
            GroupBy::Corpus => corpus,
            GroupBy::CorpusLang => format!("{corpus}/{lang}"),
            GroupBy::Kind => format!("{lang}/{}", r.kind.as_deref().unwrap_or("-")),
        }
    };
    let mut groups: BTreeMap<String, Vec<(Sentiment, Probabilities)>> = BTreeMap::new();
    for ((row, gold), p) in rows.iter().zip(&predicted) {
        groups.entry(key(row)).or_default().push((*gold, *p));
    }
    let all: Vec<(Sentiment, Probabilities)> = groups.values().flatten().copied().collect();
    let mut report: BTreeMap<String, Figures> = groups
        .iter()
        .map(|(k, v)| (k.clone(), figures(v)))
        .collect();
    report.insert("all".into(), figures(&all));
    Ok(report)
}

fn print_sentiment(report: &BTreeMap<String, Figures>) {
    println!(
        "{:<28} {:>6} {:>8} {:>9} {:>8} {:>7}",
        "group", "n", "accuracy", "macro-F1", "binary", "ECE"
    );
    for (name, f) in report {
        let binary = f
            .binary_accuracy
            .map(|b| format!("{b:.3}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{name:<28} {:>6} {:>8.3} {:>9.3} {binary:>8} {:>7.3}",
            f.n, f.accuracy, f.macro_f1, f.ece
        );
    }
    println!("\nconfusion (rows gold, columns predicted: negative neutral positive)");
    for (name, f) in report {
        let c = f.confusion;
        println!(
            "{name:<28} neg [{:>5} {:>5} {:>5}]  neu [{:>5} {:>5} {:>5}]  pos [{:>5} {:>5} {:>5}]",
            c[0][0], c[0][1], c[0][2], c[1][0], c[1][1], c[1][2], c[2][0], c[2][1], c[2][2]
        );
    }
}
