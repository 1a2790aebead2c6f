//! `vigie bench`: the Rust pipeline and the Python onnxruntime baseline, same model, same
//! inputs, same threads and graph options, one after the other in one invocation.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use vigie_model::{ModelOptions, SentimentModel};

use crate::ModelArgs;

#[derive(Args)]
pub struct BenchArgs {
    /// JSONL with a "text" field per row; the first --texts rows are used.
    #[arg(long, default_value = "model/dist/eval/umsab-val.jsonl")]
    pub data: PathBuf,
    /// Number of texts per run.
    #[arg(long, default_value_t = 512)]
    pub texts: usize,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub batch: Vec<usize>,
    /// Python with onnxruntime and tokenizers (the project's venv).
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// The baseline script.
    #[arg(long, default_value = "model/bench/baseline.py")]
    pub baseline: PathBuf,
    /// Measure Rust only.
    #[arg(long)]
    pub no_baseline: bool,
    /// Rounds, alternating which side goes first; figures are the median round (a shared
    /// machine's speed drifts by tens of percent from one minute to the next).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// One JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Run {
    pub texts: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Time spent turning the same texts into ids, measured on its own.
    pub tokenize_seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Side {
    #[serde(default)]
    pub import_seconds: f64,
    pub load_seconds: f64,
    pub peak_rss_mb: f64,
    pub runs: BTreeMap<String, Run>,
}

fn percentile(sorted_ms: &[f64], q: f64) -> f64 {
    // Linear interpolation between closest ranks, as numpy.percentile does.
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let pos = q / 100.0 * (sorted_ms.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (pos - lo as f64)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn read_texts(path: &PathBuf, n: usize) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "cannot open {} (build the model first: scripts/build-model)",
            path.display()
        )
    })?;
    let mut texts = Vec::with_capacity(n);
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = serde_json::from_str(&line)?;
        if let Some(t) = row
            .get("text")
            .and_then(|t| t.as_str())
            .filter(|t| !t.trim().is_empty())
        {
            texts.push(t.to_owned());
        }
        if texts.len() == n {
            break;
        }
    }
    anyhow::ensure!(!texts.is_empty(), "{}: no texts", path.display());
    Ok(texts)
}

/// Intra-op threads per session and sessions, as both sides run them.
fn layout(args: &ModelArgs) -> (usize, usize) {
    let options = args.options();
    (options.intra_threads, options.sessions)
}

/// Calls of `b` texts, each taking the next ones: calls of one text from as many callers as
/// the model has sessions, calls of more from one caller (`classify` spreads a call's
/// inference calls over the sessions): (each call's latency in ms, the wall time in s).
fn calls(model: &SentimentModel, texts: &[String], b: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    let chunks: Vec<&[String]> = texts.chunks(b.max(1)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let callers = if b <= 1 { model.sessions() } else { 1 };
    let t = Instant::now();
    let per_caller: Vec<anyhow::Result<Vec<f64>>> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..callers.min(chunks.len()).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut latencies = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(chunk) = chunks.get(k) else { break };
                        let c = Instant::now();
                        std::hint::black_box(model.classify(chunk)?);
                        latencies.push(c.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(latencies)
                })
            })
            .collect();
        callers
            .into_iter()
            .map(|h| h.join().expect("a bench caller panicked"))
            .collect()
    });
    let seconds = t.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    for l in per_caller {
        latencies.extend(l?);
    }
    Ok((latencies, seconds))
}

fn measure_rust(args: &BenchArgs, texts: &[String]) -> anyhow::Result<Side> {
    let options = ModelOptions {
        // The baseline does not hash the files; neither does this side, to compare like with like.
        verify_checksums: false,
        ..args.model.options()
    };
    let started = Instant::now();
    let model = SentimentModel::load(&options)?;
    let load_seconds = started.elapsed().as_secs_f64();
    // warm-up: every session through a first call, as on the Python side
    calls(&model, &texts[..texts.len().min(model.sessions())], 1)?;
    model.classify(&texts[..texts.len().min(8)])?;
    let mut runs = BTreeMap::new();
    for &b in &args.batch {
        let (mut latencies, seconds) = calls(&model, texts, b)?;
        let t = Instant::now();
        for chunk in texts.chunks(b.max(1)) {
            std::hint::black_box(model.encode(chunk)?);
        }
        let tokenize_seconds = t.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        runs.insert(
            b.to_string(),
            Run {
                texts: texts.len(),
                seconds,
                per_second: texts.len() as f64 / seconds,
                p50_ms: percentile(&latencies, 50.0),
                p95_ms: percentile(&latencies, 95.0),
                tokenize_seconds,
            },
        );
    }
    Ok(Side {
        import_seconds: 0.0,
        load_seconds,
        peak_rss_mb: peak_rss_mb(),
        runs,
    })
}

fn measure_python(args: &BenchArgs, texts: &[String]) -> anyhow::Result<Side> {
    let file = std::env::temp_dir().join(format!("vigie-bench-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(texts)?)?;
    let batches: Vec<String> = args.batch.iter().map(|b| b.to_string()).collect();
    let (threads, sessions) = layout(&args.model);
    let output = Command::new(&args.python)
        .arg(&args.baseline)
        .arg("--model-dir")
        .arg(&args.model.model_dir)
        .arg("--texts")
        .arg(&file)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--sessions")
        .arg(sessions.to_string())
        .arg("--batch")
        .args(&batches)
        .arg("--call-tokens")
        .arg(args.model.call_tokens.to_string())
        .args((!args.model.cpu_arena).then_some("--no-cpu-arena"))
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (set up the venv: scripts/setup-python)",
                args.python.display()
            )
        });
    let _ = std::fs::remove_file(&file);
    let output = output?;
    anyhow::ensure!(
        output.status.success(),
        "the Python baseline failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("the Python baseline printed no JSON")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One figure of the comparison: how to read it off a side, and which way is better.
struct Metric {
    name: String,
    read: Box<dyn Fn(&Side) -> f64>,
    lower_is_better: bool,
    unit: &'static str,
}

fn metrics(batches: &[String]) -> Vec<Metric> {
    let m = |name: &str, lower_is_better, unit, read: Box<dyn Fn(&Side) -> f64>| Metric {
        name: name.to_owned(),
        read,
        lower_is_better,
        unit,
    };
    let mut out = vec![
        m(
            "ready to classify (imports + load)",
            true,
            " ms",
            Box::new(|s| (s.import_seconds + s.load_seconds) * 1000.0),
        ),
        m("peak RSS", true, " MB", Box::new(|s| s.peak_rss_mb)),
    ];
    for b in batches {
        let (b1, b2, b3, b4) = (b.clone(), b.clone(), b.clone(), b.clone());
        out.push(m(
            &format!("batch {b}: comments/s"),
            false,
            "",
            Box::new(move |s| s.runs[&b1].per_second),
        ));
        out.push(m(
            &format!("batch {b}: p50 latency per call"),
            true,
            " ms",
            Box::new(move |s| s.runs[&b2].p50_ms),
        ));
        out.push(m(
            &format!("batch {b}: p95 latency per call"),
            true,
            " ms",
            Box::new(move |s| s.runs[&b3].p95_ms),
        ));
        out.push(m(
            &format!("batch {b}: share spent tokenizing"),
            true,
            " %",
            Box::new(move |s| 100.0 * s.runs[&b4].tokenize_seconds / s.runs[&b4].seconds),
        ));
    }
    out
}

/// One line of the report.
struct Row {
    name: String,
    rust: f64,
    python: Option<f64>,
    ratio: Option<f64>,
    unit: &'static str,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let texts = read_texts(&args.data, args.texts)?;
    let (threads, sessions) = layout(&args.model);
    let (mut rust, mut python) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        // Alternate the order so that neither side always runs on a warmer machine.
        if round % 2 == 1 && !args.no_baseline {
            python.push(measure_python(&args, &texts)?);
        }
        rust.push(measure_rust(&args, &texts)?);
        if round % 2 == 0 && !args.no_baseline {
            python.push(measure_python(&args, &texts)?);
        }
    }
    let batches: Vec<String> = args.batch.iter().map(|b| b.to_string()).collect();
    // Each figure: the median round of each side, and the median of the paired ratios
    // (both sides of a round ran within seconds of each other, on the same machine speed).
    let table: Vec<Row> = metrics(&batches)
        .into_iter()
        .map(|m| {
            let r = median(rust.iter().map(&m.read).collect());
            let p = (!python.is_empty()).then(|| median(python.iter().map(&m.read).collect()));
            let ratio = (!python.is_empty()).then(|| {
                median(
                    rust.iter()
                        .zip(&python)
                        .map(|(r, p)| {
                            let (r, p) = ((m.read)(r), (m.read)(p));
                            if m.lower_is_better { p / r } else { r / p }
                        })
                        .collect(),
                )
            });
            Row {
                name: m.name,
                rust: r,
                python: p,
                ratio,
                unit: m.unit,
            }
        })
        .collect();
    if args.json {
        let rows: Vec<serde_json::Value> = table
            .iter()
            .map(|row| {
                serde_json::json!({"figure": row.name, "unit": row.unit.trim(), "rust": row.rust,
                    "python": row.python, "rust_advantage": row.ratio})
            })
            .collect();
        let doc = serde_json::json!({
            "texts": texts.len(),
            "threads": threads,
            "sessions": sessions,
            "rounds": args.rounds.max(1),
            "figures": rows,
            "rust": rust,
            "python": python,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{} texts from {}, {} sessions of {} intra-op threads (calls of one text: a caller per session), same model and graph options on both sides",
        texts.len(),
        args.data.display(),
        sessions,
        threads,
    );
    println!(
        "median of {} rounds; last column: median of the paired ratios (> 1: Rust better)\n",
        args.rounds.max(1)
    );
    println!("{:<36} {:>12} {:>12} {:>8}", "", "rust", "python", "ratio");
    for Row {
        name,
        rust: r,
        python: p,
        ratio,
        unit,
    } in &table
    {
        let p = p
            .map(|v| format!("{v:.2}{unit}"))
            .unwrap_or_else(|| "-".into());
        let ratio = ratio
            .map(|v| format!("{v:.2}x"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{name:<36} {:>12} {p:>12} {ratio:>8}",
            format!("{r:.2}{unit}")
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchHeadsArgs {
    /// JSONL with a "text" field per row (labelled comments, or any).
    #[arg(long, default_value = "model/signals/data/heldout/fr.jsonl")]
    pub data: PathBuf,
    /// Rounds over all the texts; figures are over every reading of every round.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The cost of the heads beyond the encoder: each text is embedded once, then its reading
/// (risk signals, intent, nearest labelled examples for the signals that count) and its
/// urgency are computed `rounds` times, one text at a time, as classify does.
pub fn run_heads(args: BenchHeadsArgs) -> anyhow::Result<()> {
    use vigie_core::comment::{Author, Platform};
    use vigie_core::urgency::{self, Assessment, UrgencyPolicy};

    let model = args.model.load()?;
    let heads = model
        .heads()
        .context("the model has no signal heads: build them with scripts/build-model")?;
    let file = std::fs::File::open(&args.data)
        .with_context(|| format!("cannot open {}", args.data.display()))?;
    let mut texts = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
            texts.push(t.to_owned());
        }
    }
    eprintln!("embedding {} texts once...", texts.len());
    let predictions = model.classify(&texts)?;
    let policy = UrgencyPolicy::default();
    let author = Author {
        id: "bench".into(),
        name: None,
        followers: None,
    };
    let mut heads_us = Vec::with_capacity(texts.len() * args.rounds);
    let mut total_us = Vec::with_capacity(texts.len() * args.rounds);
    let mut escalated = 0usize;
    for _ in 0..args.rounds {
        for (text, p) in texts.iter().zip(&predictions) {
            let sentiment = vigie_classify::sentiment(p, model.version());
            let t0 = Instant::now();
            let u = vigie_classify::understanding(heads, &p.embedding);
            let t1 = Instant::now();
            let v = urgency::assess(
                &policy,
                &Assessment {
                    platform: Platform::Generic,
                    text: Some(text),
                    author: &author,
                    sentiment: Some(&sentiment),
                    earlier_complaints: 0,
                    understanding: Some(&u),
                },
            );
            let t2 = Instant::now();
            escalated += usize::from(v.escalate);
            heads_us.push((t1 - t0).as_secs_f64() * 1e6);
            total_us.push((t2 - t0).as_secs_f64() * 1e6);
        }
    }
    heads_us.sort_by(f64::total_cmp);
    total_us.sort_by(f64::total_cmp);
    println!(
        "heads {} over {} texts x {} rounds ({} examples for nearest): reading p50 {:.1} µs, p99 {:.1} µs; reading + urgency p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} escalated per round)",
        heads.version(),
        texts.len(),
        args.rounds,
        heads.examples().len(),
        percentile(&heads_us, 50.0),
        percentile(&heads_us, 99.0),
        percentile(&total_us, 50.0),
        percentile(&total_us, 99.0),
        total_us.last().copied().unwrap_or_default(),
        escalated / args.rounds.max(1),
    );
    Ok(())
}
