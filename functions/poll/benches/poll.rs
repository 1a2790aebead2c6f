//! What reading costs: each platform module's page reader on the recorded pages of
//! `tests/fixtures/pull/`, and whole poll runs on the embedded store with the API answered
//! in process (no network, so what is timed is vigie's own work): a first read that takes
//! every comment in, and the steady state of a run that finds them all there already.
//!
//!   cargo bench -p vigie-poll --bench poll -- [--rounds N]

use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use vigie_core::config::Brands;
use vigie_core::poll::{
    Feed, HttpClient, HttpRequest, HttpResponse, Method, PULLS, PullKeys, TransportError,
};
use vigie_core::secrets::Secrets;
use vigie_core::{BrandId, Timestamp};
use vigie_poll::Polling;
use vigie_sqlite::Database;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pull")
}

fn page(path: &str) -> Vec<u8> {
    std::fs::read(root().join(path)).unwrap()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn summary(mut micros: Vec<f64>) -> (f64, f64) {
    micros.sort_by(f64::total_cmp);
    (quantile(&micros, 0.5), quantile(&micros, 0.95))
}

/// Answers every API call from the recorded pages.
struct Recorded;

#[async_trait]
impl HttpClient for Recorded {
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let body = if req.method == Method::Post && req.url.contains("/tt_user/") {
            page("tiktok/token.json")
        } else if req.method == Method::Post {
            br#"{"access_token":"t","expires_in":3599}"#.to_vec()
        } else if req.url.contains("/mentions?") {
            if req.url.contains("pagination_token=") {
                page("x/mentions-2.json")
            } else {
                page("x/mentions-1.json")
            }
        } else if req.url.contains("/rest/posts?") {
            page("linkedin/posts.json")
        } else if req.url.contains("/rest/socialActions/urn%3Ali%3Acomment") {
            page("linkedin/replies.json")
        } else if req.url.contains("/rest/socialActions/") {
            page("linkedin/comments-share.json")
        } else if req.url.contains("/business/video/list/") {
            page("tiktok/videos.json")
        } else if req.url.contains("/business/comment/list/") {
            if req.url.contains("cursor=") {
                page("tiktok/comments-2.json")
            } else {
                page("tiktok/comments-1.json")
            }
        } else if req.url.contains("/youtube/v3/comments?") {
            page("youtube/replies.json")
        } else if req.url.contains("commentThreads") {
            if req.url.contains("pageToken=") {
                page("youtube/threads-2.json")
            } else {
                page("youtube/threads-1.json")
            }
        } else if req.url.contains("/comments?") {
            let listing = page("reddit/comments.json");
            if req.url.contains("after=") {
                // the second page is the last
                String::from_utf8(listing)
                    .unwrap()
                    .replace(r#""after": "t1_m8x0005""#, r#""after": null"#)
                    .into_bytes()
            } else {
                listing
            }
        } else if req.url.contains("/reviews?") {
            page("google/reviews.json")
        } else if req.url.contains("/media?") {
            page("instagram/media.json")
        } else {
            page("facebook/feed.json")
        };
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body,
        })
    }
}

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED" }
verify_token = { env = "UNUSED" }
[meta.pull]
access_token = { env = "UNUSED" }
[apps.yt]
platform = "youtube"
[apps.yt.pull]
client_id = "c"
client_secret = { env = "UNUSED" }
refresh_token = { env = "UNUSED" }
[apps.rd]
platform = "reddit"
[apps.rd.pull]
client_id = "c"
client_secret = { env = "UNUSED" }
refresh_token = { env = "UNUSED" }
username = "Acme_Officiel"
user_agent = "bench"
[apps.gbp]
platform = "google"
[apps.gbp.pull]
client_id = "c"
client_secret = { env = "UNUSED" }
refresh_token = { env = "UNUSED" }
[apps.x]
platform = "x"
[apps.x.pull]
access_token = { env = "UNUSED" }
[apps.li]
platform = "linkedin"
[apps.li.pull]
client_id = "c"
client_secret = { env = "UNUSED" }
refresh_token = { env = "UNUSED" }
[apps.tt]
platform = "tiktok"
[apps.tt.pull]
client_id = "c"
client_secret = { env = "UNUSED" }
refresh_token = { env = "UNUSED" }
[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["100000000000001"]
instagram_account_ids = ["17841400000000001"]
accounts = { youtube = ["UCacmeAcmeAcmeAcmeAcme00"], reddit = ["r/acme"], google = ["accounts/106324156478320432151/locations/5874012345678901234"], x = ["1000000001"], linkedin = ["2414183"], tiktok = ["-000OXv3Jb5RkQZ"] }
"#;

fn main() {
    let rounds: usize = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .map(|n| n.parse().expect("--rounds N"))
        .unwrap_or(30);

    // 1. page readers
    let fixtures = [
        ("youtube", "youtube/threads-1.json", None),
        (
            "youtube",
            "youtube/replies.json",
            Some("replies:dQw4w9WgXcQ:UgzT3hread0010"),
        ),
        ("reddit", "reddit/comments.json", None),
        ("google", "google/reviews.json", None),
        ("facebook", "facebook/feed.json", None),
        ("instagram", "instagram/media.json", None),
        (
            "instagram",
            "instagram/mention-comment.json",
            Some("mention:17900000000000001"),
        ),
        ("x", "x/mentions-1.json", None),
        ("linkedin", "linkedin/posts.json", None),
        (
            "linkedin",
            "linkedin/comments-share.json",
            Some("comments 0 urn:li:share:7400000000000000001"),
        ),
        ("tiktok", "tiktok/videos.json", None),
        (
            "tiktok",
            "tiktok/comments-1.json",
            Some("comments 7436000000000000001 0"),
        ),
    ];
    println!(
        "{:<34}{:>8}{:>9}{:>11}{:>11}",
        "page", "bytes", "read", "p50 µs", "p95 µs"
    );
    let keys = PullKeys {
        username: Some("Acme_Officiel".into()),
        ..Default::default()
    };
    for (platform, path, asked) in fixtures {
        let platform = vigie_core::Platform::parse(platform).unwrap();
        let pull = PULLS
            .into_iter()
            .find(|p| p.platforms().contains(&platform))
            .unwrap();
        let account = match platform {
            vigie_core::Platform::YouTube => "UCacmeAcmeAcmeAcmeAcme00",
            vigie_core::Platform::Reddit => "r/acme",
            vigie_core::Platform::Google => {
                "accounts/106324156478320432151/locations/5874012345678901234"
            }
            vigie_core::Platform::Instagram => "17841400000000001",
            _ => "100000000000001",
        };
        let feed = Feed {
            brand: BrandId::parse("acme").unwrap(),
            platform,
            account: account.into(),
            app: "app".into(),
        };
        let resp = HttpResponse {
            status: 200,
            headers: vec![],
            body: page(path),
        };
        let events = pull.read_page(&feed, &keys, asked, &resp).unwrap();
        let events = events.events.len() + events.then.len();
        let batch = 200;
        let micros: Vec<f64> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..batch {
                    std::hint::black_box(pull.read_page(&feed, &keys, asked, &resp).unwrap());
                }
                t.elapsed().as_secs_f64() * 1e6 / batch as f64
            })
            .collect();
        let (p50, p95) = summary(micros);
        println!(
            "{path:<34}{:>8}{events:>9}{p50:>11.1}{p95:>11.1}",
            resp.body.len()
        );
    }

    // 2. whole runs: eight feeds (YouTube two pages, Reddit, Google, Facebook, Instagram, X
    // two pages, LinkedIn a listing and its posts' comments and replies, TikTok a listing
    // and its videos' comments); the steady run skips LinkedIn, read hourly
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let brands = Brands::parse("bench.toml".as_ref(), CONFIG).unwrap();
    let mut secrets = Secrets::default();
    for app in ["meta", "yt", "rd", "gbp", "x", "li", "tt"] {
        let fixed = app == "meta" || app == "x";
        secrets = secrets.with_pull(
            app,
            PullKeys {
                client_id: Some("c".into()),
                client_secret: Some("s".into()),
                refresh_token: (!fixed).then(|| "r".into()),
                access_token: fixed.then(|| "t".into()),
                username: Some("Acme_Officiel".into()),
                ..Default::default()
            },
        );
    }
    let now = Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
    let (mut first, mut steady) = (Vec::new(), Vec::new());
    let mut stored = 0;
    let mut per_feed = Vec::new();
    for _ in 0..rounds {
        let db = Database::in_memory().unwrap();
        let polling = Polling::new(
            brands.clone(),
            secrets.clone(),
            db.store(),
            db.queue("classify", 5),
            Recorded,
        );
        rt.block_on(async {
            let t = Instant::now();
            let s = polling.run(now).await.unwrap();
            assert_eq!(s.failed, 0, "{:?}", s.report);
            stored = s.stored;
            per_feed = s
                .report
                .feeds
                .iter()
                .map(|f| {
                    format!(
                        "{} {} new, {} own, {} ignored",
                        f.feed, f.intake.stored, f.intake.own, f.intake.ignored
                    )
                })
                .collect();
            first.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            let s = polling.run(now.plus_millis(300_000)).await.unwrap();
            assert_eq!(s.stored, 0);
            steady.push(t.elapsed().as_secs_f64() * 1e6);
        });
    }
    println!();
    println!(
        "{:<44}{:>11}{:>11}",
        "run of 8 feeds, in-memory SQLite", "p50 ms", "p95 ms"
    );
    for (name, micros) in [
        (format!("first read ({stored} comments stored)"), first),
        ("steady state (all already in)".to_owned(), steady),
    ] {
        let (p50, p95) = summary(micros);
        println!("{name:<44}{:>11.2}{:>11.2}", p50 / 1e3, p95 / 1e3);
    }
    for line in per_feed {
        println!("  {line}");
    }
    eprintln!("{rounds} rounds");
}
