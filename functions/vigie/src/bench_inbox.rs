//! `vigie bench-inbox`: the managers' inbox endpoint under a full store. Files
//! `--comments` triaged comments of one brand in a fresh SQLite database (every one open:
//! the worst case for the inbox), serves the review router on loopback as `vigie serve`
//! does, and times each page a manager asks for, one request at a time (no pile-up):
//! the first page, filtered pages, pages deep into the inbox by cursor, and the counts.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore, Triage,
};
use vigie_core::ports::{CommentWrite, Inserted, UserStore};
use vigie_core::review::Role;
use vigie_core::time::Timestamp;
use vigie_core::understanding::{Intent, Understanding};
use vigie_core::urgency::Urgency;
use vigie_core::users::{User, UserName};

#[derive(Args)]
pub struct BenchInboxArgs {
    /// Triaged comments filed before timing.
    #[arg(long, default_value_t = 100_000)]
    pub comments: usize,
    /// Requests timed per kind of page.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Comments per page.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// JSON out instead of a table.
    #[arg(long)]
    pub json: bool,
}

const BRANDS: &str = r#"
[[brands]]
id = "acme"
name = "Acme"
"#;

fn comment(n: usize, now: Timestamp) -> Comment {
    let platform = [Platform::Facebook, Platform::Instagram, Platform::Generic][n % 3];
    let sentiment = [Sentiment::Negative, Sentiment::Neutral, Sentiment::Positive][n % 5 % 3];
    let intent = Intent::ALL[n % Intent::ALL.len()];
    let urgency = ((n * 37) % 101) as u8;
    // spread over 30 days
    let received = now.plus_millis(-((n as i64 * 7_919) % (30 * 86_400_000)));
    let text = format!("Commande {n} : toujours pas reçue, que se passe-t-il ?");
    Comment {
        key: CommentKey::new(
            BrandId::parse("acme").expect("id"),
            platform,
            format!("c{n}"),
        )
        .expect("key"),
        thread_id: format!("post-{}", n % 500),
        parent_id: None,
        source: None,
        author: Author {
            id: format!("author-{}", n % 20_000),
            name: Some("Camille".into()),
            followers: None,
        },
        text: Some(CommentText::parse(&text).expect("text")),
        attachment: None,
        truncation: None,
        permalink: None,
        created_at: received,
        received_at: received,
        version: 1,
        state: CommentState::Triaged,
        triage: Some(Triage {
            version: 1,
            sentiment: Some(SentimentScore {
                label: sentiment,
                negative: 0.6,
                neutral: 0.3,
                positive: 0.1,
                model: "bench".into(),
            }),
            understanding: Some(Understanding {
                intent,
                intent_probability: 0.7,
                signals: vec![],
                model: "bench".into(),
            }),
            embedding: None,
            urgency: Urgency {
                score: urgency,
                escalate: urgency >= 50,
                tier: (urgency >= 50).then(|| "P2".to_owned()),
                respond_within_minutes: (urgency >= 50).then_some(60),
                reasons: vec![],
            },
            triaged_at: received,
        }),
        escalated_version: None,
        private: false,
        revision: 0,
    }
}

/// Files the comments, many writes in flight so that the store commits them in groups.
async fn fill(store: &vigie_sqlite::SqliteStore, n: usize) -> anyhow::Result<()> {
    let bar =
        indicatif::ProgressBar::new(n as u64).with_style(indicatif::ProgressStyle::with_template(
            "filing comments {bar:40} {pos}/{len} ({per_sec}, {eta} left)",
        )?);
    let now = Timestamp::now();
    let mut tasks = tokio::task::JoinSet::new();
    for start in (0..n).step_by(n.div_ceil(64).max(1)) {
        let (store, bar) = (store.clone(), bar.clone());
        let end = (start + n.div_ceil(64).max(1)).min(n);
        tasks.spawn(async move {
            for i in start..end {
                let c = comment(i, now);
                let mut received = c.clone();
                received.state = CommentState::Received;
                received.triage = None;
                let Inserted::New(stored) = store.insert_if_new(&received).await? else {
                    anyhow::bail!("comment {i} filed twice");
                };
                store
                    .update(&Comment {
                        revision: stored.revision,
                        ..c
                    })
                    .await?;
                bar.inc(1);
            }
            Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    bar.finish();
    Ok(())
}

#[derive(serde::Serialize)]
struct Row {
    page: &'static str,
    requests: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub async fn run(args: BenchInboxArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = vigie_sqlite::Database::open(&dir.path().join("bench.db"))?;
    let store = db.store();
    let started = Instant::now();
    fill(&store, args.comments).await?;
    eprintln!(
        "{} comments filed in {:.1} s",
        args.comments,
        started.elapsed().as_secs_f64()
    );

    let mut user = User {
        name: UserName::parse("bench")?,
        password_hash: vigie_review::auth::hash_password("bench password, not used")?,
        roles: [(BrandId::parse("acme")?, Role::Viewer)].into(),
        revision: 1,
        session_epoch: 0,
        tokens: vec![],
    };
    let token = vigie_review::auth::add_token(&mut user, "bench", Timestamp::now())?;
    store.put_user(&user, None).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let brands =
        vigie_core::config::Brands::parse("bench.toml".as_ref(), BRANDS).context("bench brands")?;
    let auth = vigie_review::auth::Auth::new(
        Arc::new(store.clone()),
        vigie_review::auth::AuthConfig::local(vigie_review::auth::SessionKey::generate(), addr),
    )?;
    let router = vigie_review::router(Arc::new(vigie_review::ReviewState {
        brands: Arc::new(brands),
        store: store.clone(),
        auth,
        drafts: None,
        embedder: None,
        speller: None,
    }));
    let limits = crate::http::Limits {
        header_read: std::time::Duration::from_secs(10),
        body_read: std::time::Duration::from_secs(10),
        idle: std::time::Duration::from_secs(60),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::http::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let base = format!(
        "http://{addr}/api/brands/acme/comments?limit={}",
        args.limit
    );
    let get = |url: String| {
        let (http, token) = (http.clone(), token.expose().to_owned());
        async move {
            let t0 = Instant::now();
            let answer = http.get(&url).bearer_auth(token).send().await?;
            anyhow::ensure!(answer.status().is_success(), "{url}: {}", answer.status());
            let page: serde_json::Value = answer.json().await?;
            Ok::<_, anyhow::Error>((t0.elapsed(), page))
        }
    };
    let kinds: [(&'static str, &str); 5] = [
        ("first page", ""),
        (
            "instagram, negative",
            "&platform=instagram&sentiment=negative",
        ),
        ("overdue, unclaimed", "&sla_breached=true&assignee=none"),
        ("one intent", "&intent=legal_threat"),
        // few match: the page walks the index past most of the inbox
        ("not overdue (rare)", "&sla_breached=false"),
    ];
    let mut rows = Vec::new();
    let bar = indicatif::ProgressBar::new((args.requests * (kinds.len() + 1)) as u64).with_style(
        indicatif::ProgressStyle::with_template("timing pages {bar:40} {pos}/{len}")?,
    );
    for (name, filter) in kinds {
        let mut h = Histogram::<u64>::new(3)?;
        for _ in 0..args.requests {
            let (took, page) = get(format!("{base}{filter}")).await?;
            anyhow::ensure!(
                page["items"].as_array().is_some_and(|i| !i.is_empty()),
                "{name}: an empty page"
            );
            h.record(took.as_micros() as u64)?;
            bar.inc(1);
        }
        rows.push(row(name, &h));
    }
    // a manager paging on: each page after the previous one's cursor
    let mut h = Histogram::<u64>::new(3)?;
    let mut cursor: Option<String> = None;
    for _ in 0..args.requests {
        let url = match &cursor {
            Some(c) => format!("{base}&cursor={c}"),
            None => base.clone(),
        };
        let (took, page) = get(url).await?;
        h.record(took.as_micros() as u64)?;
        cursor = page["next"].as_str().map(str::to_owned);
        bar.inc(1);
    }
    rows.push(row("next pages by cursor", &h));
    bar.finish_and_clear();
    let _ = stop.send(());
    let _ = server.await;

    if args.json {
        println!(
            "{}",
            serde_json::json!({"comments": args.comments, "limit": args.limit, "pages": rows})
        );
    } else {
        println!(
            "inbox of {} open comments, {} per page, one request at a time on loopback",
            args.comments, args.limit
        );
        println!(
            "{:<24} {:>8} {:>9} {:>9} {:>9}",
            "page", "requests", "p50 ms", "p99 ms", "max ms"
        );
        for r in &rows {
            println!(
                "{:<24} {:>8} {:>9.2} {:>9.2} {:>9.2}",
                r.page, r.requests, r.p50_ms, r.p99_ms, r.max_ms
            );
        }
    }
    Ok(())
}

fn row(page: &'static str, h: &Histogram<u64>) -> Row {
    let ms = |us: u64| us as f64 / 1000.0;
    Row {
        page,
        requests: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}
