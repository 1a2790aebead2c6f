//! What each platform module costs per delivery: the signature check on the raw bytes,
//! the parse into canonical events, and the whole intake (verify, archive, store, queue)
//! on the embedded store, for each fixture of `tests/fixtures/webhooks/`.
//!
//!   cargo bench -p vigie-webhook --bench platforms -- [--rounds N]
//!
//! Google's pushes are left out: their token is signed at test time with a key the bench
//! does not carry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use vigie_core::Platform;
use vigie_core::config::Brands;
use vigie_core::intake::{Intake, WebhookRequest};
use vigie_core::platforms::{self, AppKeys, Inbound};
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;
use vigie_sqlite::Database;

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED" }
verify_token = { env = "UNUSED" }
[apps.x]
platform = "x"
secret = { env = "UNUSED" }
[apps.linkedin]
platform = "linkedin"
secret = { env = "UNUSED" }
[apps.tiktok]
platform = "tiktok"
secret = { env = "UNUSED" }
[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
instagram_account_ids = ["17841400000000001"]
accounts = { x = ["2244994945"], linkedin = ["2414183"], tiktok = ["-000OXv3Jb5RkQZ"] }
generic_secret = { env = "UNUSED" }
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/webhooks")
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Microseconds per call of `f`, `rounds` times over a batch of calls.
fn time(rounds: usize, mut f: impl FnMut()) -> (f64, f64) {
    let batch = 200;
    let mut per_call: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / batch as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    (quantile(&per_call, 0.5), quantile(&per_call, 0.9))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    #[derive(serde::Deserialize)]
    struct Stated {
        signed_at: i64,
        apps: BTreeMap<String, BTreeMap<String, String>>,
    }
    let stated: Stated =
        serde_json::from_slice(&std::fs::read(root().join("secrets.json")).unwrap()).unwrap();
    let now = Timestamp::from_unix_seconds(stated.signed_at);
    let key = |p: &str| AppKeys::new(stated.apps[p]["secret"].as_bytes().to_vec());
    let mut secrets = Secrets::default()
        .with_app("meta", key("facebook").with_verify_token("unused"))
        .with_app("x", key("x"))
        .with_app("linkedin", key("linkedin"))
        .with_app("tiktok", key("tiktok"));
    secrets.generic.insert(
        vigie_core::BrandId::parse("acme").unwrap(),
        stated.apps["generic"]["secret"].as_bytes().to_vec(),
    );
    let brands = Brands::parse("brands.toml".as_ref(), CONFIG).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    println!(
        "{:<34}{:>7}{:>11}{:>11}{:>11}{:>11}{:>11}",
        "fixture (µs per delivery)",
        "bytes",
        "verify p50",
        "parse p50",
        "parse p90",
        "intake p50",
        "intake p90"
    );
    let mut total = 0;
    for platform in Platform::ALL {
        if platform == Platform::Google {
            continue;
        }
        let mut files: Vec<PathBuf> = walk(&root().join(platform.as_str()));
        files.sort();
        for file in files {
            let name = file.strip_prefix(root()).unwrap().display().to_string();
            let body = std::fs::read(&file).unwrap();
            let headers: BTreeMap<String, String> = serde_json::from_slice(
                &std::fs::read(file.with_extension("headers.json")).unwrap(),
            )
            .unwrap();
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let inbound = Inbound {
                headers: &headers,
                query: &[],
                body: &body,
            };
            let source = platforms::source(platform);
            let keys = if platform == Platform::Generic {
                AppKeys::new(stated.apps["generic"]["secret"].as_bytes().to_vec())
            } else {
                secrets.apps[match platform {
                    Platform::Facebook | Platform::Instagram => "meta",
                    p => p.as_str(),
                }]
                .clone()
            };
            let (verify, _) = time(rounds, || {
                source.verify(&keys, &inbound, now).unwrap();
            });
            let (parse50, parse90) = time(rounds, || {
                std::hint::black_box(source.parse(platform, &body).unwrap());
            });
            // A fresh store per round, so that each delivery is new, not a duplicate.
            let mut intake: Vec<f64> = (0..rounds)
                .map(|_| {
                    let db = Database::in_memory().unwrap();
                    let (store, queue) = (db.store(), db.queue("classify", 5));
                    let t = Instant::now();
                    runtime
                        .block_on(
                            Intake {
                                brands: &brands,
                                secrets: &secrets,
                                store: &store,
                                queue: &queue,
                            }
                            .receive(
                                WebhookRequest {
                                    platform,
                                    app: None,
                                    inbound,
                                },
                                now,
                            ),
                        )
                        .unwrap();
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            intake.sort_by(f64::total_cmp);
            println!(
                "{name:<34}{:>7}{verify:>11.1}{parse50:>11.1}{parse90:>11.1}{:>11.0}{:>11.0}",
                body.len(),
                quantile(&intake, 0.5),
                quantile(&intake, 0.9)
            );
            total += 1;
        }
    }
    eprintln!("{total} fixtures, {rounds} rounds each");
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "json")
            && !p.to_string_lossy().ends_with(".headers.json")
        {
            out.push(p);
        }
    }
    out
}
