//! What 100,000 comments cost on AWS at list prices, from measured work: `--comments N`
//! (default 100) signed Meta deliveries of one comment each (texts of
//! samples/eval/drafts.jsonl, ten comments per post) through every function of
//! infra/template.yaml under the Runtime API emulator, on moto, then a manager's work on
//! each comment through the review function with an OpenID Connect token (open it, claim
//! it, approve the first draft and mark it sent, or escalate it when there is no draft;
//! an inbox page per ten comments).
//!
//!   scripts/package    # the release bootstraps in target/lambda and the layers
//!   cargo bench -p vigie-tests --profile dev --bench cost -- [--comments N] [--starts N]
//!       [--invocations-per-start N]
//!
//! It runs the packaged bootstraps when target/lambda holds them (or `VIGIE_LAMBDA_DIR`
//! says where), else the binaries cargo built here (debug builds: slower).
//!
//! Three passes, each on a deployment of its own (table, queues and functions):
//! - timed, batches of one (what the SQS sources hand over when comments trickle in, as
//!   100,000 a month do): each invocation's round trip through the emulator, on the
//!   functions pointed at moto directly;
//! - timed, the template's batch sizes (a burst);
//! - metered, batches of one: the same functions behind `vigie_tests::metering`, which
//!   counts every AWS call and the DynamoDB units it costs (it reads items around each
//!   write, so it is not timed).
//!
//! Durations include moto's answers on loopback instead of DynamoDB's and SQS's in a
//! region; the bench also prints what 5 ms more per AWS call would add. moto's answers
//! slow down as its table fills (a query reads every item of the table, and a transaction
//! copies the whole table once per item it writes): each pass starts on an empty table,
//! so that the two timed passes meet the same sizes, and the bench prints each function's
//! first and last tenth of the batches of one.
//!
//! Then `--starts N` (default 5) new execution environments of each function, on one CPU:
//! what a start adds is Lambda's init phase, billed at the function's memory; the bill
//! counts one start per `--invocations-per-start` (default 100) invocations.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use vigie_tests::deployment::{Deployment, HOST, MANAGER, meta_comment, meta_delivery, token};
use vigie_tests::fakes::APP_SECRET;
use vigie_tests::lambda::{
    self, ONE_CPU, bench_arg, failures, http_event, prefer_packaged, queue_arn, sqs_event,
};
use vigie_tests::metering::{Call, Meter, summary};
use vigie_tests::moto::{complete, moto, receive_all};

// us-east-1 list prices, December 2026, no free tier
const LAMBDA_GB_SECOND: f64 = 0.000_016_666_7; // x86_64
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const HTTP_API_REQUEST: f64 = 1.00 / 1e6; // first 300 million a month
const SQS_REQUEST: f64 = 0.40 / 1e6; // standard queue, per 64 KB chunk
const DYNAMO_WRITE_UNIT: f64 = 0.625 / 1e6; // on-demand, standard table class
const DYNAMO_READ_UNIT: f64 = 0.125 / 1e6;
const DYNAMO_GB_MONTH: f64 = 0.25;
const PITR_GB_MONTH: f64 = 0.20;
const LOGS_GB_INGESTED: f64 = 0.50;
/// Lambda's own START, END and REPORT lines per invocation, in bytes.
const PLATFORM_LOG_BYTES: f64 = 320.0;
/// DynamoDB's storage overhead per item and per index entry, in bytes.
const ITEM_OVERHEAD: usize = 100;

const WEBHOOK: &str = "vigie-webhook";
const CLASSIFY: &str = "vigie-classify";
const NOTIFY: &str = "vigie-notify";
const DRAFT: &str = "vigie-draft";
const REVIEW: &str = "vigie-review";
const ORDER: [&str; 5] = [WEBHOOK, CLASSIFY, NOTIFY, DRAFT, REVIEW];

/// Memory and SQS batch size of a function, from infra/template.yaml.
fn template(binary: &str) -> (f64, usize) {
    let t = lambda::template();
    let f = lambda::template_function(&t, binary);
    let memory = f["Properties"]["MemorySize"]
        .as_f64()
        .or_else(|| t["Globals"]["Function"]["MemorySize"].as_f64())
        .unwrap();
    let batch = f["Properties"]["Events"]
        .as_mapping()
        .into_iter()
        .flat_map(|m| m.values())
        .find_map(|e| e["Properties"]["BatchSize"].as_u64())
        .unwrap_or(1) as usize;
    (memory, batch)
}

/// What a pass measured, per function.
#[derive(Default)]
struct Pass {
    ms: BTreeMap<&'static str, Vec<f64>>,
    calls: BTreeMap<&'static str, Vec<Call>>,
    /// The messages each consumer got, the invocations they came in.
    consumed: BTreeMap<&'static str, usize>,
}

struct Bench {
    http: reqwest::Client,
    /// In front of moto for the metered pass's deployment.
    meter: Meter,
    bearer: String,
    texts: Vec<String>,
}

impl Bench {
    /// Invokes `name` through the emulator's Invoke API: its answer and the round trip.
    async fn invoke(&self, d: &Deployment, name: &str, payload: &Value) -> (Value, f64) {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{name}/invocations",
            d.emulator.port
        );
        let started = Instant::now();
        let answer = self
            .http
            .post(url)
            .json(payload)
            .timeout(vigie_tests::wait_limit())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        assert!(status.is_success(), "{name}: {status} {body}");
        (body, ms)
    }

    /// Each function of `d` through its start, before anything is timed.
    async fn warm_up(&self, d: &Deployment) {
        for f in ORDER {
            self.invoke(d, f, &idle_event(f)).await;
        }
    }

    /// What a new execution environment adds, `rounds` times per function (Lambda bills
    /// it as the init phase): from the process's start to its answer to an event that
    /// does no work, less the same event's round trip once started. On one CPU
    /// (`taskset -c 0`, as Lambda gives 1,769 MB; less memory gets a share of one).
    async fn starts(
        &self,
        d: &mut Deployment,
        endpoint: &str,
        rounds: usize,
    ) -> BTreeMap<&'static str, Vec<f64>> {
        let mut added: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for f in ORDER {
            eprintln!("starts: {f}, {rounds} times");
            for _ in 0..rounds {
                let started = Instant::now();
                d.restart_function(f, endpoint, ONE_CPU);
                self.invoke(d, f, &idle_event(f)).await;
                let cold = started.elapsed().as_secs_f64() * 1e3;
                let (_, warm) = self.invoke(d, f, &idle_event(f)).await;
                added.entry(f).or_default().push(cold - warm);
            }
        }
        added
    }

    /// One pass over `n` new comments on the deployment `d`; `metered` when its functions
    /// call AWS through the meter.
    async fn pass(
        &self,
        d: &Deployment,
        label: &str,
        metered: bool,
        n: usize,
        template_batches: bool,
    ) -> Pass {
        let mut pass = Pass::default();
        let take = |pass: &mut Pass, f: &'static str| {
            if metered {
                pass.calls.entry(f).or_default().extend(self.meter.take());
            }
        };
        self.meter.take();
        let created = 1_764_086_400 + n as u64;

        eprintln!("{label}: {n} deliveries through the webhook");
        for i in 0..n {
            let id = format!("{label}_{i}");
            // ten comments per post, by forty authors
            let body = meta_comment(
                &format!("1001_{label}{}", i / 10),
                &id,
                &format!("{}", 7000 + i % 40),
                &self.texts[(i * 97) % self.texts.len()],
                created,
            );
            let (answer, ms) = self
                .invoke(d, WEBHOOK, &meta_delivery(&body, APP_SECRET))
                .await;
            assert_eq!(answer["statusCode"], 200, "{answer}");
            pass.ms.entry(WEBHOOK).or_default().push(ms);
        }
        take(&mut pass, WEBHOOK);

        for (f, queue, arn) in [
            (CLASSIFY, &d.classify_q, "classify"),
            (NOTIFY, &d.escalation_q, "escalation"),
            (DRAFT, &d.draft_q, "draft"),
        ] {
            let messages = receive_all(queue).await;
            let batch = if template_batches { template(f).1 } else { 1 };
            eprintln!(
                "{label}: {} messages to {f} in batches of {batch}",
                messages.len()
            );
            for chunk in messages.chunks(batch) {
                let (answer, ms) = self.invoke(d, f, &sqs_event(&queue_arn(arn), chunk)).await;
                assert!(failures(&answer).is_empty(), "{f}: {answer}");
                complete(queue, chunk, &[]).await;
                pass.ms.entry(f).or_default().push(ms);
            }
            *pass.consumed.entry(f).or_default() += messages.len();
            take(&mut pass, f);
        }

        eprintln!("{label}: a manager works through {n} comments");
        let auth = [("host", HOST), ("authorization", self.bearer.as_str())];
        let mut request = async |method: &str, path: &str, body: Option<Value>| -> Value {
            let mut headers = auth.to_vec();
            if body.is_some() {
                headers.push(("content-type", "application/json"));
            }
            let text = body.map(|b| b.to_string()).unwrap_or_default();
            let (answer, ms) = self
                .invoke(d, REVIEW, &http_event(method, path, &headers, &text))
                .await;
            assert_eq!(answer["statusCode"], 200, "{method} {path}: {answer}");
            pass.ms.entry(REVIEW).or_default().push(ms);
            serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap()
        };
        for i in 0..n {
            if i % 10 == 0 {
                request("GET", "/api/brands/acme/comments", None).await;
            }
            let path = format!("/api/brands/acme/comments/facebook/{label}_{i}");
            let detail = request("GET", &path, None).await;
            let revision = detail["review"]["revision"].as_u64().unwrap();
            let actions = format!("{path}/actions");
            let claimed = request(
                "POST",
                &actions,
                Some(json!({"revision": revision, "command": "claim"})),
            )
            .await;
            let revision = claimed["revision"].as_u64().unwrap();
            let drafted = detail["drafts"]["suggestions"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if drafted {
                let approved = request(
                    "POST",
                    &actions,
                    Some(json!({"revision": revision, "command": "approve", "index": 0})),
                )
                .await;
                request(
                    "POST",
                    &actions,
                    Some(
                        json!({"revision": approved["revision"], "command": "mark_sent",
                                "platform_reply_id": format!("{label}_r{i}")}),
                    ),
                )
                .await;
            } else {
                request(
                    "POST",
                    &actions,
                    Some(json!({"revision": revision, "command": "escalate"})),
                )
                .await;
            }
        }
        take(&mut pass, REVIEW);
        pass
    }
}

/// An event `f` answers without work: an empty batch, the webhook's handshake, the review
/// API's session of no one.
fn idle_event(f: &str) -> Value {
    match f {
        WEBHOOK => http_event(
            "GET",
            "/webhooks/facebook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1",
            &[("host", HOST)],
            "",
        ),
        REVIEW => http_event("GET", "/api/session", &[("host", HOST)], ""),
        _ => json!({"Records": []}),
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn p50(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// GB-seconds per comment of a function's invocations (each billed by the started ms).
fn gb_seconds(memory_mb: f64, ms: &[f64], n: usize, extra_ms: f64) -> f64 {
    ms.iter()
        .map(|m| (m + extra_ms).ceil() / 1e3 * memory_mb / 1024.0)
        .sum::<f64>()
        / n as f64
}

fn main() {
    let n: usize = bench_arg("--comments", 100);
    let rounds: usize = bench_arg("--starts", 5);
    let invocations_per_start: f64 = bench_arg("--invocations-per-start", 100.0);
    prefer_packaged();
    let model_dir = vigie_tests::full_model_dir().expect("the model (scripts/build-model)");
    let moto = moto().expect("moto (scripts/setup-python)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // a deployment per pass, each with a table of its own
        let deploy = async |endpoint: &str| {
            let mut d = Deployment::new(moto, &model_dir)
                .await
                .expect("cargo lambda (scripts/setup-infra)");
            d.start_functions(endpoint);
            d
        };
        let meter = Meter::start(&moto.endpoint).await;
        let mut one_d = deploy(&moto.endpoint).await;
        let burst_d = deploy(&moto.endpoint).await;
        let metered_d = deploy(&meter.endpoint).await;
        let texts: Vec<String> = std::fs::read_to_string(
            vigie_tests::workspace_root().join("samples/eval/drafts.jsonl"),
        )
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        let bench = Bench {
            http: reqwest::Client::new(),
            meter,
            bearer: format!("Bearer {}", token(MANAGER)),
            texts,
        };
        for d in [&one_d, &burst_d, &metered_d] {
            bench.warm_up(d).await;
        }
        let log_bytes = |f: &str| -> f64 {
            std::fs::metadata(&one_d.emulator.function(f).log)
                .map(|m| m.len() as f64)
                .unwrap_or(0.0)
        };
        let before: Vec<f64> = ORDER.iter().map(|f| log_bytes(f)).collect();
        let trickle = bench.pass(&one_d, "one", false, n, false).await;
        // each function's log lines per comment
        let logs: BTreeMap<&str, f64> = ORDER
            .iter()
            .zip(before)
            .map(|(f, b)| (*f, (log_bytes(f) - b) / n as f64))
            .collect();
        let burst = bench.pass(&burst_d, "burst", false, n, true).await;
        let metered = bench.pass(&metered_d, "metered", true, n, false).await;
        let escalated = metered.consumed.get(NOTIFY).copied().unwrap_or(0);
        let stored =
            storage_per_comment(&moto.endpoint, metered_d.store.table_name(), "metered", n).await;
        let starts = bench.starts(&mut one_d, &moto.endpoint, rounds).await;
        report(
            n,
            escalated,
            Measured {
                trickle: &trickle,
                burst: &burst,
                metered: &metered,
                logs: &logs,
                starts: &starts,
                invocations_per_start,
            },
            stored,
        );
    });
}

/// Bytes a comment keeps in the table (its items, with DynamoDB's overhead per item and
/// per index entry), as the metered pass left them.
async fn storage_per_comment(endpoint: &str, table: &str, label: &str, n: usize) -> f64 {
    let mut bytes = 0usize;
    let mut sizes: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for i in 0..n {
        let pk = format!("C#acme#facebook#{label}_{i}");
        for item in vigie_tests::metering::partition(endpoint, table, &pk).await {
            let entries = vigie_tests::metering::index_entry_sizes(&item);
            let size = vigie_tests::metering::item_size(&item);
            let indexes = entries.len();
            bytes +=
                size + ITEM_OVERHEAD + entries.iter().map(|e| e + ITEM_OVERHEAD).sum::<usize>();
            let e = sizes.entry(vigie_tests::metering::kind(&item)).or_default();
            e.0 += 1;
            e.1 += size;
            e.2 += indexes;
        }
    }
    let kinds: Vec<String> = sizes
        .iter()
        .map(|(k, (count, size, indexes))| {
            format!(
                "{k} {count} × {} B in {:.1} indexes",
                size / count,
                *indexes as f64 / *count as f64
            )
        })
        .collect();
    println!("items kept for {n} comments: {}", kinds.join(", "));
    bytes as f64 / n as f64
}

/// What the bench measured, for the report.
struct Measured<'a> {
    trickle: &'a Pass,
    burst: &'a Pass,
    metered: &'a Pass,
    /// Each function's log bytes per comment.
    logs: &'a BTreeMap<&'a str, f64>,
    /// What each start added, ms.
    starts: &'a BTreeMap<&'static str, Vec<f64>>,
    /// Invocations per new execution environment, for the init line.
    invocations_per_start: f64,
}

/// GB-seconds of a function's init, at its p50 start (billed by the started ms).
fn init_gb_seconds(f: &str, starts: &BTreeMap<&'static str, Vec<f64>>) -> f64 {
    let (memory, _) = template(f);
    starts
        .get(f)
        .map(|ms| p50(ms).max(0.0).ceil() / 1e3 * memory / 1024.0)
        .unwrap_or(0.0)
}

/// The measured work of some functions, per comment.
struct Work {
    invocations: f64,
    gb_seconds: f64,
    /// the init phases of new execution environments
    init_gb_seconds: f64,
    invocations_per_start: f64,
    /// the same with 5 ms more per AWS call
    gb_seconds_slower: f64,
    api_requests: f64,
    sqs_requests: f64,
    read_units: f64,
    write_units: f64,
    log_bytes: f64,
}

impl Work {
    fn of(functions: &[&'static str], n: usize, m: &Measured) -> Work {
        let Measured {
            trickle,
            metered,
            logs,
            ..
        } = m;
        let per = |x: f64| x / n as f64;
        let mut w = Work {
            invocations: 0.0,
            gb_seconds: 0.0,
            init_gb_seconds: 0.0,
            invocations_per_start: m.invocations_per_start,
            gb_seconds_slower: 0.0,
            api_requests: 0.0,
            sqs_requests: 0.0,
            read_units: 0.0,
            write_units: 0.0,
            log_bytes: 0.0,
        };
        for f in functions {
            let (memory, _) = template(f);
            let ms = &trickle.ms[f];
            let calls = metered.calls.get(f).map(Vec::as_slice).unwrap_or_default();
            let calls_per_invocation = calls.len() as f64 / metered.ms[f].len() as f64;
            w.invocations += per(ms.len() as f64);
            w.gb_seconds += gb_seconds(memory, ms, n, 0.0);
            w.init_gb_seconds +=
                per(ms.len() as f64) / m.invocations_per_start * init_gb_seconds(f, m.starts);
            w.gb_seconds_slower += gb_seconds(memory, ms, n, 5.0 * calls_per_invocation);
            if [WEBHOOK, REVIEW].contains(f) {
                w.api_requests += per(metered.ms[f].len() as f64);
            }
            if [CLASSIFY, NOTIFY, DRAFT].contains(f) {
                // Lambda's SQS source: a receive and a delete per batch handed over
                w.sqs_requests += per(2.0 * metered.ms[f].len() as f64);
            }
            for c in calls {
                if c.service == "SQS" {
                    // each started 64 KB of a request is a request
                    w.sqs_requests += per(c.request_bytes.div_ceil(65_536).max(1) as f64);
                }
                w.read_units += per(c.read_units);
                w.write_units += per(c.write_units);
            }
            w.log_bytes +=
                logs.get(f).copied().unwrap_or(0.0) + PLATFORM_LOG_BYTES * per(ms.len() as f64);
        }
        w
    }

    /// What 100,000 comments' worth of this work costs: (line, arithmetic, dollars).
    fn bill(&self) -> Vec<(&'static str, String, f64)> {
        let k = 100_000.0;
        vec![
            (
                "API Gateway HTTP API",
                format!("{:.2} requests × $1.00/M", self.api_requests),
                self.api_requests * k * HTTP_API_REQUEST,
            ),
            (
                "Lambda requests",
                format!("{:.2} invocations × $0.20/M", self.invocations),
                self.invocations * k * LAMBDA_REQUEST,
            ),
            (
                "Lambda duration",
                format!("{:.5} GB-s × $0.0000166667", self.gb_seconds),
                self.gb_seconds * k * LAMBDA_GB_SECOND,
            ),
            (
                "Lambda init",
                format!(
                    "{:.6} GB-s × $0.0000166667 (a start per {:.0} invocations)",
                    self.init_gb_seconds, self.invocations_per_start
                ),
                self.init_gb_seconds * k * LAMBDA_GB_SECOND,
            ),
            (
                "SQS",
                format!("{:.2} requests × $0.40/M", self.sqs_requests),
                self.sqs_requests * k * SQS_REQUEST,
            ),
            (
                "DynamoDB writes",
                format!("{:.1} WRU × $0.625/M", self.write_units),
                self.write_units * k * DYNAMO_WRITE_UNIT,
            ),
            (
                "DynamoDB reads",
                format!("{:.1} RRU × $0.125/M", self.read_units),
                self.read_units * k * DYNAMO_READ_UNIT,
            ),
            (
                "CloudWatch Logs",
                format!("{:.0} B × $0.50/GB", self.log_bytes),
                self.log_bytes * k / 1e9 * LOGS_GB_INGESTED,
            ),
        ]
    }

    fn print(&self, title: &str) -> f64 {
        println!("\n{title}, us-east-1 list prices, no free tier:");
        let mut total = 0.0;
        for (what, how, dollars) in self.bill() {
            println!("  {what:<22}${dollars:>8.4}  {how}");
            total += dollars;
        }
        println!("  {:<22}${total:>8.4}", "total");
        let slower = (self.gb_seconds_slower - self.gb_seconds) * 100_000.0 * LAMBDA_GB_SECOND;
        println!(
            "  (5 ms more per AWS call, a region's latency instead of loopback's: +${slower:.4} of Lambda duration)"
        );
        total
    }
}

fn report(n: usize, escalated: usize, m: Measured, stored_bytes: f64) {
    let Measured {
        trickle,
        burst,
        metered,
        starts,
        ..
    } = m;
    let per = |x: f64| x / n as f64;
    println!("\n{n} comments ({escalated} escalated), moto on loopback; per comment unless said\n");
    println!(
        "{:<15}{:>6}{:>11}{:>10}{:>10}{:>14}{:>10}{:>9}{:>8}{:>8}",
        "function",
        "MB",
        "invoc.",
        "ms p50",
        "ms mean",
        "ms (batch/n)",
        "GB-s",
        "calls",
        "RRU",
        "WRU"
    );
    for f in ORDER {
        let (memory, batch) = template(f);
        let ms = &trickle.ms[f];
        let calls = metered.calls.get(f).map(Vec::as_slice).unwrap_or_default();
        let units = |pick: fn(&Call) -> f64| per(calls.iter().map(pick).sum());
        println!(
            "{f:<15}{memory:>6.0}{:>11.2}{:>10.1}{:>10.1}{:>14}{:>10.5}{:>9.1}{:>8.1}{:>8.1}",
            per(ms.len() as f64),
            p50(ms),
            mean(ms),
            format!("{:.1}/{batch}", mean(&burst.ms[f])),
            gb_seconds(memory, ms, n, 0.0),
            per(calls.len() as f64),
            units(|c| c.read_units),
            units(|c| c.write_units),
        );
    }
    println!(
        "(ms: each invocation's round trip in batches of one; batch/n: the mean invocation in the template's batches)"
    );
    // moto's own growth: the same work, later in the pass, on a fuller table
    let tenths: Vec<String> = ORDER
        .iter()
        .map(|f| {
            let ms = &trickle.ms[f];
            let k = (ms.len() / 10).max(1);
            format!(
                "{} {:.1} → {:.1}",
                f.trim_start_matches("vigie-"),
                mean(&ms[..k]),
                mean(&ms[ms.len() - k..])
            )
        })
        .collect();
    println!(
        "ms mean of the first and the last tenth of the batches of one, as moto's table fills: {}",
        tenths.join(", ")
    );

    println!("\nAWS calls of the metered pass, per comment:");
    let all: Vec<Call> = metered.calls.values().flatten().cloned().collect();
    for (op, (count, r, w, _)) in summary(&all) {
        println!(
            "  {op:<36}{:>7.2}  RRU {:>6.2}  WRU {:>6.2}",
            per(count as f64),
            per(r),
            per(w)
        );
    }
    let mut by_kind: BTreeMap<&str, f64> = BTreeMap::new();
    for (k, units) in all.iter().flat_map(|c| c.writes_by_kind.iter()) {
        *by_kind.entry(k).or_default() += units;
    }
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(k, u)| format!("{k} {:.1}", per(*u)))
        .collect();
    println!("  write units by item: {}", kinds.join(", "));

    let rounds = starts.values().map(Vec::len).max().unwrap_or(0);
    println!(
        "\nWhat a start adds (process start to the answer of an idle event, less a started one's; {rounds} starts, one CPU), ms:"
    );
    for f in ORDER {
        let mut ms = starts.get(f).cloned().unwrap_or_default();
        ms.sort_by(f64::total_cmp);
        if let (Some(min), Some(max)) = (ms.first(), ms.last()) {
            println!(
                "  {f:<15} min {min:>6.0}  p50 {:>6.0}  max {max:>6.0}  = {:.5} GB-s at p50",
                p50(&ms),
                init_gb_seconds(f, starts)
            );
        }
    }

    let pipeline = Work::of(&[WEBHOOK, CLASSIFY, NOTIFY, DRAFT], n, &m)
        .print("Triage and drafts (webhook, classify, notify, draft) per 100,000 comments");
    let review = Work::of(&[REVIEW], n, &m).print(
        "A manager's work (review: open, claim, approve and mark sent, an inbox page per ten) per 100,000 comments answered",
    );
    println!(
        "\nEvery comment answered through vigie: ${:.4} per 100,000",
        pipeline + review
    );
    let gb = stored_bytes * 100_000.0 / 1e9;
    println!(
        "Kept: {stored_bytes:.0} B per comment (its items, index entries and DynamoDB's 100 B each) = {gb:.3} GB per 100,000: ${:.4} per month kept (storage ${DYNAMO_GB_MONTH}/GB-month, point-in-time recovery ${PITR_GB_MONTH}/GB-month)",
        gb * (DYNAMO_GB_MONTH + PITR_GB_MONTH)
    );
}
