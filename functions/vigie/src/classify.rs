use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use vigie_core::understanding::{Intent, SignalReading};
use vigie_model::{Prediction, Probabilities, Sentiment, SentimentModel};

use crate::ModelArgs;

#[derive(Args)]
pub struct ClassifyArgs {
    /// Texts to classify; without any (and without --input), one text per line of stdin.
    pub texts: Vec<String>,
    /// JSONL file whose rows have a "text" field (other fields are copied through).
    #[arg(long, conflicts_with = "texts")]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Serialize)]
struct Row<'a> {
    text: &'a str,
    label: Sentiment,
    probabilities: Probabilities,
    confidence: f32,
    model: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    /// The learned intent, when the model has heads.
    #[serde(skip_serializing_if = "Option::is_none")]
    intent: Option<Intent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intent_probability: Option<f32>,
    /// Risk signals that count towards urgency (a hesitant reading counts in part), most
    /// probable first, with their nearest labelled examples.
    #[serde(skip_serializing_if = "Option::is_none")]
    signals: Option<Vec<SignalReading>>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// One text to classify and what travels with it.
struct Item {
    text: String,
    extra: serde_json::Map<String, serde_json::Value>,
    origin: String,
}

fn read_items(args: &ClassifyArgs) -> anyhow::Result<Vec<Item>> {
    let plain = |text: String, origin: String| Item {
        text,
        extra: Default::default(),
        origin,
    };
    if let Some(path) = &args.input {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut items = Vec::new();
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("{}: line {}", path.display(), n + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let mut row: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&line)
                    .with_context(|| format!("{}:{}: not a JSON object", path.display(), n + 1))?;
            let text = match row.remove("text") {
                Some(serde_json::Value::String(t)) => t,
                _ => anyhow::bail!("{}:{}: no \"text\" string field", path.display(), n + 1),
            };
            items.push(Item {
                text,
                extra: row,
                origin: format!("{}:{}", path.display(), n + 1),
            });
        }
        return Ok(items);
    }
    if !args.texts.is_empty() {
        return Ok(args
            .texts
            .iter()
            .enumerate()
            .map(|(i, t)| plain(t.clone(), format!("argument {}", i + 1)))
            .collect());
    }
    let mut items = Vec::new();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        items.push(plain(
            line.context("reading stdin")?,
            format!("stdin line {}", n + 1),
        ));
    }
    Ok(items)
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<()> {
    let items: Vec<Item> = read_items(&args)?
        .into_iter()
        .filter(|item| {
            let keep = !item.text.trim().is_empty();
            if !keep {
                eprintln!("warning: {}: empty text skipped", item.origin);
            }
            keep
        })
        .collect();
    let model = args.model.load()?;
    let progress = if args.input.is_some() {
        ProgressBar::new(items.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} comments ({per_sec}, eta {eta})")
                .expect("valid template"),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    // Chunks large enough to batch well, small enough for a live progress bar.
    for chunk in items.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|i| i.text.as_str()).collect();
        let predictions = model.classify(&texts)?;
        for (item, p) in chunk.iter().zip(&predictions) {
            write_row(&mut out, &model, item, p)?;
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    out.flush()?;
    Ok(())
}

fn write_row(
    out: &mut impl Write,
    model: &SentimentModel,
    item: &Item,
    p: &Prediction,
) -> anyhow::Result<()> {
    if p.truncated {
        eprintln!(
            "warning: {}: longer than the model's {} tokens: its middle was left out",
            item.origin,
            model.max_tokens()
        );
    }
    let understanding = model
        .heads()
        .map(|h| vigie_classify::understanding(h, &p.embedding));
    let row = Row {
        intent: understanding.as_ref().map(|u| u.intent),
        intent_probability: understanding.as_ref().map(|u| u.intent_probability),
        signals: understanding.map(|u| {
            let mut s: Vec<SignalReading> = u
                .signals
                .into_iter()
                .filter(|r| r.strength() > 0.0)
                .collect();
            s.sort_by(|a, b| b.probability.total_cmp(&a.probability));
            s
        }),
        text: &item.text,
        label: p.label,
        probabilities: p.probabilities,
        confidence: p.confidence,
        model: model.version(),
        truncated: p.truncated,
        extra: item.extra.clone(),
    };
    serde_json::to_writer(&mut *out, &row)?;
    out.write_all(b"\n")?;
    Ok(())
}
