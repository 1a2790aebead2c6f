//! `vigie load`: an open-loop load generator for the webhook intake of a running vigie
//! (loopback only), then the end-to-end classification rate.
//!
//! Requests start on a fixed schedule (`--rate` per second) whatever the answers, and each
//! latency is measured from its scheduled start, so a stall shows in the percentiles
//! instead of slowing the load (no coordinated omission). Each request is a distinct,
//! signed Facebook delivery of one comment taken from a JSONL file of texts.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use tokio::sync::{Mutex, Semaphore};
use vigie_core::platforms::meta::signature as sign_meta;

#[derive(Args)]
pub struct LoadArgs {
    /// vigie's address; only loopback addresses are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Requests per second.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Total requests.
    #[arg(long, default_value_t = 10_000)]
    pub requests: u32,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// JSONL with a "text" field per row (comment texts, reused in turn).
    #[arg(long, default_value = "model/dist/eval/umsab-val.jsonl")]
    pub texts: PathBuf,
    /// Facebook page id of a configured brand, and the Meta app secret.
    #[arg(long, default_value = "100200300400500")]
    pub page_id: String,
    #[arg(long, env = "VIGIE_META_APP_SECRET")]
    pub app_secret: String,
    /// Wait for the classification queue to drain and report the classification rate.
    #[arg(long)]
    pub wait_classified: bool,
    /// Instead of one run at `--rate`: a step search for the highest rate whose p99 stays
    /// under `--p99-ms`, starting at `--rate` (each step `--step-seconds` long).
    #[arg(long)]
    pub find_max_rate: bool,
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    #[arg(long, default_value_t = 10)]
    pub step_seconds: u32,
    #[arg(long)]
    pub json: bool,
}

fn loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

fn delivery(page: &str, n: u32, text: &str, run: u128) -> Vec<u8> {
    serde_json::json!({"object": "page", "entry": [{"id": page, "time": 1764086400, "changes": [{"field": "feed", "value": {
        "from": {"id": format!("{}", 5_000_000 + n % 997), "name": "Load Test"},
        "message": text, "post_id": format!("{page}_{}", n % 50), "comment_id": format!("{run}_{n}"),
        "created_time": 1764086400, "item": "comment", "parent_id": format!("{page}_{}", n % 50), "verb": "add"}}]}]})
    .to_string()
    .into_bytes()
}

async fn metrics(http: &reqwest::Client, base: &str) -> anyhow::Result<serde_json::Value> {
    Ok(http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .json()
        .await?)
}

fn classified(m: &serde_json::Value) -> u64 {
    m["counters"]
        .as_object()
        .map(|c| {
            c.iter()
                .filter(|(k, _)| k.starts_with("comment_classified"))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        loopback(&args.url),
        "load tests run against loopback addresses only, not {}",
        args.url
    );
    anyhow::ensure!(
        args.rate > 0 && args.requests > 0,
        "--rate and --requests must be positive"
    );
    let texts: Vec<String> = std::io::BufReader::new(
        std::fs::File::open(&args.texts)
            .with_context(|| format!("cannot open {}", args.texts.display()))?,
    )
    .lines()
    .map_while(Result::ok)
    .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
    .filter_map(|v| v["text"].as_str().map(str::to_owned))
    .collect();
    anyhow::ensure!(!texts.is_empty(), "{}: no texts", args.texts.display());
    let base = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .build()?;
    let before = metrics(&http, &base)
        .await
        .context("is vigie serving there?")?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    if args.find_max_rate {
        return find_max_rate(&args, &http, &base, &texts, run).await;
    }
    let step = step(
        &args,
        &http,
        &base,
        &texts,
        run,
        args.rate,
        args.requests,
        0,
    )
    .await?;
    let mut report = step.report();

    if args.wait_classified {
        let base_count = classified(&before);
        let mut last = metrics(&http, &base).await?;
        while last["queues"]["classify"]["waiting"].as_u64().unwrap_or(0) > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            last = metrics(&http, &base).await?;
        }
        let total = step.started.elapsed();
        let n = classified(&last) - base_count;
        report["classified"] = n.into();
        report["classified_seconds"] = total.as_secs_f64().into();
        report["classified_per_second"] = (n as f64 / total.as_secs_f64()).into();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", step.line());
        if let Some(n) = report.get("classified") {
            println!(
                "{n} comments classified end to end in {:.1} s: {:.0} comments/s",
                report["classified_seconds"].as_f64().unwrap_or(0.0),
                report["classified_per_second"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// One open-loop run at one rate.
struct Step {
    started: Instant,
    requests: u32,
    rate: u32,
    seconds: f64,
    errors: u32,
    latency: Histogram<u64>,
}

impl Step {
    fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    fn p99_ms(&self) -> f64 {
        self.ms(0.99)
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "target_rate": self.rate,
            "seconds": self.seconds,
            "achieved_rate": f64::from(self.requests) / self.seconds,
            "errors": self.errors,
            "latency_ms": {"p50": self.ms(0.5), "p90": self.ms(0.9), "p99": self.ms(0.99), "max": self.latency.max() as f64 / 1000.0},
        })
    }

    fn line(&self) -> String {
        format!(
            "{} requests at {}/s target: {:.0}/s achieved, {} errors, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.requests,
            self.rate,
            f64::from(self.requests) / self.seconds,
            self.errors,
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.latency.max() as f64 / 1000.0
        )
    }
}

/// Sends `requests` distinct deliveries at `rate` per second; `first` numbers the first
/// comment so that steps of one run never repeat a comment.
#[allow(clippy::too_many_arguments)]
async fn step(
    args: &LoadArgs,
    http: &reqwest::Client,
    base: &str,
    texts: &[String],
    run: u128,
    rate: u32,
    requests: u32,
    first: u32,
) -> anyhow::Result<Step> {
    // Bodies and signatures are made before the clock starts: the client measures vigie.
    let bodies: Vec<(Vec<u8>, String)> = (first..first + requests)
        .map(|n| {
            let body = delivery(&args.page_id, n, &texts[n as usize % texts.len()], run);
            let sig = sign_meta(args.app_secret.as_bytes(), &body);
            (body, sig)
        })
        .collect();

    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let errors = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let gate = Arc::new(Semaphore::new(args.max_in_flight));
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(bodies.len());
    for (i, (body, sig)) in bodies.into_iter().enumerate() {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let permit = Arc::clone(&gate).acquire_owned().await?;
        let (http, url, hist, errors) = (
            http.clone(),
            format!("{base}/webhooks/facebook"),
            Arc::clone(&hist),
            Arc::clone(&errors),
        );
        tasks.push(tokio::spawn(async move {
            let ok = http
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            let micros = scheduled.elapsed().as_micros() as u64;
            if !ok {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            hist.lock().await.record(micros.max(1)).ok();
            drop(permit);
        }));
    }
    for t in tasks {
        t.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let latency = hist.lock().await.clone();
    Ok(Step {
        started,
        requests,
        rate,
        seconds,
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
        latency,
    })
}

/// Doubles the rate from `--rate` until a step fails (p99 over the bound, or errors), then
/// bisects between the last rate that held and the first that did not, to within 5%.
async fn find_max_rate(
    args: &LoadArgs,
    http: &reqwest::Client,
    base: &str,
    texts: &[String],
    run: u128,
) -> anyhow::Result<()> {
    let mut steps: Vec<Step> = Vec::new();
    let mut first = 0;
    let mut attempt = async |rate: u32, steps: &mut Vec<Step>| -> anyhow::Result<bool> {
        let requests = rate.saturating_mul(args.step_seconds.max(1));
        let s = step(args, http, base, texts, run, rate, requests, first).await?;
        first += requests;
        let held = s.errors == 0 && s.p99_ms() < args.p99_ms;
        if !args.json {
            println!(
                "{} -> {}",
                s.line(),
                if held { "holds" } else { "does not hold" }
            );
        }
        steps.push(s);
        Ok(held)
    };
    let (mut held, mut failed) = (0u32, None::<u32>);
    let mut rate = args.rate;
    while failed.is_none() && rate <= args.rate.saturating_mul(64) {
        if attempt(rate, &mut steps).await? {
            held = rate;
            rate = rate.saturating_mul(2);
        } else {
            failed = Some(rate);
        }
    }
    if let Some(mut hi) = failed {
        while hi - held > (held / 20).max(1) {
            let mid = held + (hi - held) / 2;
            if attempt(mid, &mut steps).await? {
                held = mid;
            } else {
                hi = mid;
            }
        }
    }
    let best = steps
        .iter()
        .filter(|s| s.rate == held)
        .map(Step::report)
        .next_back();
    if args.json {
        let report = serde_json::json!({
            "p99_bound_ms": args.p99_ms,
            "highest_rate_holding": held,
            "at_that_rate": best,
            "steps": steps.iter().map(Step::report).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if held == 0 {
        println!(
            "no rate from {}/s up holds p99 under {} ms",
            args.rate, args.p99_ms
        );
    } else {
        println!(
            "highest rate holding p99 under {} ms: {held} requests/s",
            args.p99_ms
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_targets() {
        assert!(super::loopback("http://127.0.0.1:8080"));
        assert!(super::loopback("http://localhost:9000/"));
        assert!(!super::loopback("https://example.com"));
        assert!(!super::loopback("http://10.0.0.2:8080"));
    }
}
