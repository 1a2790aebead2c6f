//! `vigie replay <dir>`: sends sample webhook deliveries to a running vigie, signed as the
//! platforms sign them, and shows what vigie made of them.
//!
//! Layout: `<dir>/<platform>/*.json` (`facebook`, `instagram`, `x`, `linkedin`, `tiktok`:
//! signed with the platform's one app), `<dir>/<platform>/<app>/*.json` (signed with that
//! app, sent to `/webhooks/<platform>/<app>`) and `<dir>/generic/<brand>/*.json` (signed
//! with the brand's secret). Bodies are sent byte for byte.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use vigie_core::Platform;
use vigie_core::comment::{BrandId, Comment};
use vigie_core::config::Brands;
use vigie_core::platforms::{self, AppKeys};
use vigie_core::secrets::{EnvSecrets, Secrets};
use vigie_core::time::Timestamp;

#[derive(Args)]
pub struct ReplayArgs {
    /// Folder of deliveries.
    pub dir: PathBuf,
    /// Where vigie listens.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, env = "VIGIE_CONFIG", default_value = "config/brands.toml")]
    pub config: PathBuf,
    /// Then wait for the comments to be classified and print each brand's open comments.
    #[arg(long)]
    pub show: bool,
    /// With --show: how long to wait for the classification queue to drain before failing.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub wait_secs: u64,
    /// With --show: an API token of a user who may read the brands
    /// (`vigie user token add NAME --label replay`).
    #[arg(long, env = "VIGIE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

struct Delivery {
    file: PathBuf,
    platform: Platform,
    /// The generic webhook's brand, or the platform app a subfolder names.
    named: Option<String>,
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn deliveries(dir: &Path) -> Vec<Delivery> {
    let mut out = Vec::new();
    for platform in Platform::ALL {
        let folder = dir.join(platform.as_str());
        if platform != Platform::Generic {
            for file in json_files(&folder) {
                out.push(Delivery {
                    file,
                    platform,
                    named: None,
                });
            }
        }
        for sub in subfolders(&folder) {
            let named = sub.file_name().and_then(|n| n.to_str()).map(str::to_owned);
            for file in json_files(&sub) {
                out.push(Delivery {
                    file,
                    platform,
                    named: named.clone(),
                });
            }
        }
    }
    out
}

/// The keys a delivery is signed with, and the path it goes to.
fn keys_for(brands: &Brands, secrets: &Secrets, d: &Delivery) -> anyhow::Result<(AppKeys, String)> {
    if d.platform == Platform::Generic {
        let brand = d
            .named
            .as_deref()
            .context("generic deliveries go in generic/<brand>/")?;
        let id = BrandId::parse(brand)?;
        let secret = secrets
            .generic
            .get(&id)
            .with_context(|| format!("brand {brand} has no generic_secret"))?;
        return Ok((
            AppKeys::new(secret.clone()),
            format!("webhooks/{}", d.platform),
        ));
    }
    let source = platforms::source(d.platform);
    let app = match d.named.as_deref() {
        Some(name) => name.to_owned(),
        None => {
            let apps: Vec<_> = brands
                .apps()
                .filter(|a| a.source.name() == source.name())
                .collect();
            match apps.as_slice() {
                [one] => one.name.clone(),
                [] => anyhow::bail!("the configuration has no {} app", source.name()),
                _ => anyhow::bail!(
                    "several {} apps: put the deliveries in {}/<app>/",
                    source.name(),
                    d.platform
                ),
            }
        }
    };
    let keys = secrets
        .apps
        .get(&app)
        .with_context(|| format!("no {} app named {app}", source.name()))?;
    let path = match &d.named {
        Some(name) => format!("webhooks/{}/{name}", d.platform),
        None => format!("webhooks/{}", d.platform),
    };
    Ok((keys.clone(), path))
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let brands = Brands::load(&args.config)?;
    let secrets = Secrets::resolve(&brands, &EnvSecrets).await?;
    let http = reqwest::Client::new();
    let found = deliveries(&args.dir);
    anyhow::ensure!(
        !found.is_empty(),
        "{}: no deliveries (<platform>/, <platform>/<app>/, generic/<brand>/)",
        args.dir.display()
    );
    for d in &found {
        let body =
            std::fs::read(&d.file).with_context(|| format!("cannot read {}", d.file.display()))?;
        let (keys, path) = keys_for(&brands, &secrets, d)?;
        let mut req = http
            .post(format!("{}/{path}", args.url.trim_end_matches('/')))
            .header("content-type", "application/json");
        if let (Platform::Generic, Some(brand)) = (d.platform, &d.named) {
            req = req.header(platforms::generic::BRAND_HEADER, brand);
        }
        for (name, value) in platforms::source(d.platform).sign(&keys, &body, Timestamp::now()) {
            req = req.header(name, value);
        }
        let response = req
            .body(body)
            .send()
            .await
            .with_context(|| format!("is vigie serving on {}?", args.url))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        println!("{} {status} {text}", d.file.display());
    }
    if args.show {
        drained(&http, &args.url, Duration::from_secs(args.wait_secs)).await?;
        let token = args
            .token
            .as_deref()
            .context("--show reads the review API: give a token with --token or VIGIE_TOKEN")?;
        show(&http, &args.url, &brands, token).await?;
    }
    Ok(())
}

/// Waits until nothing is left to classify; an error if something still is after `limit`.
async fn drained(http: &reqwest::Client, url: &str, limit: Duration) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let started = std::time::Instant::now();
    loop {
        let m: serde_json::Value = http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .json()
            .await?;
        let waiting = &m["queues"]["classify"]["waiting"];
        // drafts follow classification: done when both queues are empty
        let drafts = m["queues"]["drafts"]["waiting"].as_u64().unwrap_or(0);
        if waiting.as_u64() == Some(0) && drafts == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{base}: the classification queue has not drained after {} s ({waiting} messages waiting); \
             is the model loaded and the classify worker running? (--wait-secs sets the limit)",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints each brand's open comments, most urgent first.
async fn show(
    http: &reqwest::Client,
    url: &str,
    brands: &Brands,
    token: &str,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Line {
        comment: Comment,
    }
    #[derive(serde::Deserialize)]
    struct Page {
        items: Vec<Line>,
    }
    let base = url.trim_end_matches('/');
    for brand in brands.iter() {
        let answer = http
            .get(format!("{base}/api/brands/{}/comments?limit=20", brand.id))
            .bearer_auth(token)
            .send()
            .await?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            continue; // not a brand of this token's user
        }
        let page: Page = answer.error_for_status()?.json().await?;
        let comments: Vec<Comment> = page.items.into_iter().map(|l| l.comment).collect();
        if comments.is_empty() {
            continue;
        }
        println!(
            "\n{} ({}): open comments, most urgent first",
            brand.name, brand.id
        );
        for c in comments {
            let Some(t) = &c.triage else { continue };
            let tier = t.urgency.tier.as_deref().unwrap_or("-");
            let text: String = match (&c.text, &c.attachment) {
                (Some(t), _) => t.as_str().chars().take(70).collect(),
                (None, Some(a)) => format!("[{}]", a.kind.as_str()),
                (None, None) => String::new(),
            };
            println!(
                "  {:>3} {:<3} {:<8} {:<9} {text}",
                t.urgency.score,
                tier,
                c.key.platform.as_str(),
                t.sentiment.as_ref().map_or("-", |s| s.label.as_str())
            );
            if let Some(u) = &t.understanding {
                println!(
                    "              intent {} ({:.2})",
                    u.intent, u.intent_probability
                );
            }
            for r in t.urgency.reasons.iter().take(3) {
                let evidence: String = r.evidence.chars().take(140).collect();
                println!("              +{:<3} {:?}: {evidence}", r.points, r.signal);
            }
            let detail: serde_json::Value = http
                .get(format!(
                    "{base}/api/brands/{}/comments/{}/{}",
                    brand.id,
                    c.key.platform.as_str(),
                    c.key.external_id
                ))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            let d = &detail["drafts"];
            if d.is_object() {
                println!(
                    "              action {}: {}",
                    d["action"].as_str().unwrap_or("-"),
                    d["action_reason"].as_str().unwrap_or("")
                );
                if let Some(s) = d["suggestions"].as_array().and_then(|s| s.first()) {
                    let text = s["text"].as_str().unwrap_or("").replace('\n', " / ");
                    println!(
                        "              draft ({}, {} checks passed): {text}",
                        s["reply_ids"][0].as_str().unwrap_or("-"),
                        s["checks"].as_array().map_or(0, |c| c.len())
                    );
                }
            }
        }
    }
    Ok(())
}
