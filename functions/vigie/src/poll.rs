//! `vigie poll`: reads every configured feed once (YouTube, Reddit, Google reviews, gap
//! repair of Facebook and Instagram) into the local store, and says what each one did.
//! `vigie serve` runs the same reads on a timer (`--poll-every`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vigie_core::Timestamp;
use vigie_core::config::Brands;
use vigie_core::poll::{FeedReport, FeedState, PollStore};
use vigie_core::secrets::{EnvSecrets, Secrets};
use vigie_poll::{Polling, ReqwestClient};
use vigie_sqlite::Database;

use crate::serve::CLASSIFY_QUEUE;

#[derive(Args)]
pub struct PollArgs {
    /// Brand configuration (TOML).
    #[arg(long, env = "VIGIE_CONFIG", default_value = "config/brands.toml")]
    pub config: PathBuf,
    /// SQLite database file (the one `vigie serve` uses).
    #[arg(long, env = "VIGIE_DB", default_value = ".vigie/vigie.db")]
    pub db: PathBuf,
    /// Receives of a message before it moves to its dead-letter queue.
    #[arg(long, default_value_t = 5)]
    pub max_receives: u32,
    /// How far back the first read of a feed goes, in hours.
    #[arg(long, default_value_t = 24)]
    pub backfill_hours: i64,
    /// The run's report as JSON on stdout, instead of a line per feed.
    #[arg(long)]
    pub json: bool,
    /// Read nothing: print each feed's state (cursor, last run, backoff, failures, what gap
    /// repair found in all) from the store.
    #[arg(long)]
    pub status: bool,
}

pub async fn run(args: PollArgs) -> anyhow::Result<()> {
    let brands = Brands::load(&args.config)?;
    let secrets = Secrets::resolve(&brands, &EnvSecrets).await?;
    let feeds = vigie_core::poll::feeds(&brands, &secrets);
    if feeds.is_empty() {
        anyhow::bail!(
            "{} has no feed to read: give an app of YouTube, Reddit or Google (or [meta], for gap repair) its [pull] credentials, and a brand its account",
            args.config.display()
        );
    }
    if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let db =
        Database::open(&args.db).with_context(|| format!("cannot open {}", args.db.display()))?;
    if args.status {
        let store = db.store();
        let mut states = Vec::new();
        for feed in &feeds {
            let key = feed.key();
            let state = store.feed_state(&key).await?;
            let requested = store.requested_reads(&key, 10_000).await?;
            states.push((key, state, requested));
        }
        if args.json {
            let rows: Vec<_> = states
                .iter()
                .map(|(feed, state, requested)| {
                    serde_json::json!({"feed": feed, "state": state, "requested_reads": requested})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            for (feed, state, requested) in &states {
                println!("{}", status_line(feed, state.as_ref(), requested.len()));
            }
        }
        return Ok(());
    }
    let queue = db.queue(CLASSIFY_QUEUE, args.max_receives);
    let mut polling = Polling::new(brands, secrets, db.store(), queue, ReqwestClient::new());
    polling.settings.backfill_minutes = args.backfill_hours.max(0) * 60;
    let summary = polling.run(Timestamp::now()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for f in &summary.report.feeds {
            eprintln!("{}", line(f));
        }
        eprintln!(
            "{} feed(s): {} new comment(s), {} missed by webhooks, {} failed",
            summary.feeds, summary.stored, summary.missed, summary.failed
        );
    }
    Ok(())
}

/// One feed's state, for a person.
fn status_line(feed: &str, state: Option<&FeedState>, requested: usize) -> String {
    let waiting = match requested {
        0 => String::new(),
        n => format!(", {n} comment(s) to read by id"),
    };
    let Some(s) = state else {
        return format!("{feed}: never read{waiting}");
    };
    let at = |t: Option<vigie_core::Timestamp>| t.map_or("-".to_owned(), |t| t.rfc3339());
    let mut line = format!(
        "{feed}: {} run(s), last {}, read up to {}, {} missed by webhooks in all",
        s.runs,
        at(s.last_run),
        at(s.since),
        s.missed
    );
    if let Some(until) = s.backoff_until {
        line.push_str(&format!(", waiting until {}", until.rfc3339()));
    }
    if let Some(next) = s.paced_until {
        line.push_str(&format!(", next listing at {}", next.rfc3339()));
    }
    if !s.resume.is_empty() {
        line.push_str(&format!(
            ", {} page(s) left for the next run",
            s.resume.len()
        ));
    }
    line.push_str(&waiting);
    if let Some(e) = &s.last_error {
        line.push_str(&format!(", {} failure(s) in a row, last: {e}", s.failures));
    }
    line
}

/// One feed's outcome, for a person.
pub fn line(f: &FeedReport) -> String {
    if f.skipped {
        return format!("{}: backing off, not read", f.feed);
    }
    let mut s = format!(
        "{}: {} page(s), {} new, {} already in, {} edited, {} deleted, {} own, {} ignored",
        f.feed,
        f.pages,
        f.intake.stored,
        f.intake.duplicates,
        f.intake.edited,
        f.intake.deleted,
        f.intake.own,
        f.intake.ignored
    );
    if f.missed > 0 {
        s.push_str(&format!(", {} missed by webhooks", f.missed));
    }
    if let Some(e) = &f.error {
        s.push_str(&format!(" — failed: {e}"));
    }
    s
}
