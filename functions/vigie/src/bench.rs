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

fn threads(args: &ModelArgs) -> usize {
    if args.threads > 0 {
        args.threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

fn measure_rust(args: &BenchArgs, texts: &[String]) -> anyhow::Result<Side> {
    let options = ModelOptions {
        intra_threads: threads(&args.model),
        // The baseline does not hash the files; neither does this side, to compare like with like.
        verify_checksums: false,
        ..args.model.options()
    };
    let started = Instant::now();
    let model = SentimentModel::load(&options)?;
    let load_seconds = started.elapsed().as_secs_f64();
    model.classify(&texts[..texts.len().min(8)])?;
    let mut runs = BTreeMap::new();
    for &b in &args.batch {
        let mut latencies = Vec::new();
        let t = Instant::now();
        for chunk in texts.chunks(b.max(1)) {
            let c = Instant::now();
            std::hint::black_box(model.classify(chunk)?);
            latencies.push(c.elapsed().as_secs_f64() * 1000.0);
        }
        let seconds = t.elapsed().as_secs_f64();
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
    let output = Command::new(&args.python)
        .arg(&args.baseline)
        .arg("--model-dir")
        .arg(&args.model.model_dir)
        .arg("--texts")
        .arg(&file)
        .arg("--threads")
        .arg(threads(&args.model).to_string())
        .arg("--batch")
        .args(&batches)
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

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let texts = read_texts(&args.data, args.texts)?;
    let rust = measure_rust(&args, &texts)?;
    let python = if args.no_baseline {
        None
    } else {
        Some(measure_python(&args, &texts)?)
    };
    if args.json {
        let doc =
            serde_json::json!({ "threads": threads(&args.model), "rust": rust, "python": python });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{} texts from {}, {} intra-op threads, same model and graph options on both sides",
        texts.len(),
        args.data.display(),
        threads(&args.model)
    );
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", a / b)
        } else {
            "-".into()
        }
    };
    println!(
        "{:<34} {:>12} {:>12} {:>10}",
        "", "rust", "python", "rust wins"
    );
    let row = |name: &str, r: f64, p: Option<f64>, better_low: bool, unit: &str| {
        let ps = p
            .map(|v| format!("{v:.2}{unit}"))
            .unwrap_or_else(|| "-".into());
        let rt = p
            .map(|v| if better_low { ratio(v, r) } else { ratio(r, v) })
            .unwrap_or_else(|| "-".into());
        println!(
            "{name:<34} {:>12} {ps:>12} {rt:>10}",
            format!("{r:.2}{unit}")
        );
    };
    let py = python.as_ref();
    row(
        "model load",
        rust.load_seconds * 1000.0,
        py.map(|p| p.load_seconds * 1000.0),
        true,
        " ms",
    );
    if let Some(p) = py {
        println!(
            "{:<34} {:>12} {:>12}",
            "python imports",
            "-",
            format!("{:.2} ms", p.import_seconds * 1000.0)
        );
    }
    row(
        "peak RSS",
        rust.peak_rss_mb,
        py.map(|p| p.peak_rss_mb),
        true,
        " MB",
    );
    for (b, r) in &rust.runs {
        let p = py.and_then(|p| p.runs.get(b));
        row(
            &format!("batch {b}: comments/s"),
            r.per_second,
            p.map(|p| p.per_second),
            false,
            "",
        );
        row(
            &format!("batch {b}: p50 latency per call"),
            r.p50_ms,
            p.map(|p| p.p50_ms),
            true,
            " ms",
        );
        row(
            &format!("batch {b}: p95 latency per call"),
            r.p95_ms,
            p.map(|p| p.p95_ms),
            true,
            " ms",
        );
        let share = |run: &Run| 100.0 * run.tokenize_seconds / run.seconds;
        println!(
            "{:<34} {:>12} {:>12}",
            format!("batch {b}: tokenizing share"),
            format!("{:.1} %", share(r)),
            p.map(|p| format!("{:.1} %", share(p)))
                .unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}
