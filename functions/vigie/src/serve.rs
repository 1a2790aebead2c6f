//! `vigie serve`: the whole pipeline in one process on an embedded store. The same
//! routers and handlers as the Lambda functions; SQLite instead of DynamoDB and SQS;
//! background workers instead of event source mappings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use vigie_classify::ModelScorer;
use vigie_core::classify::Classifier;
use vigie_core::config::Brands;
use vigie_core::intake::{REQUEUE_AFTER_MS, requeue_pending};
use vigie_core::ports::QueueReceive;
use vigie_core::secrets::{EnvSecrets, Secrets};
use vigie_core::time::Timestamp;
use vigie_notify::{Notifier, RetryPolicy};
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};

use crate::ModelArgs;

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Brand configuration (TOML).
    #[arg(long, env = "VIGIE_CONFIG", default_value = "config/brands.toml")]
    pub config: PathBuf,
    /// SQLite database file (created if missing).
    #[arg(long, env = "VIGIE_DB", default_value = ".vigie/vigie.db")]
    pub db: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "VIGIE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Receives of a message before it moves to its dead-letter queue.
    #[arg(long, default_value_t = 5)]
    pub max_receives: u32,
    /// Seconds a received message stays hidden from other receives until it is acked.
    #[arg(long, default_value_t = 60)]
    pub visibility_timeout: u32,
    /// Seconds a client has to send a request's head (also how long an idle keep-alive
    /// connection stays open).
    #[arg(long, default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a whole request body once its head is in.
    #[arg(long, default_value_t = 30)]
    pub body_read_timeout: u64,
    /// Seconds a connection stays open with no byte moving either way.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
    /// Also serve `POST /chat-sink`, a local stand-in for a Slack or Teams incoming webhook
    /// that prints what it receives (for trying vigie without a chat workspace).
    #[arg(long)]
    pub chat_sink: bool,
    /// Another `Host` (host:port) the review page and API answer for, besides the loopback
    /// forms of the listen port: the name people use to reach this machine. Requests for
    /// any other host are refused (DNS rebinding). Repeatable.
    #[arg(
        long = "allowed-host",
        env = "VIGIE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Seconds between two reads of the configured feeds (YouTube, Reddit, Google
    /// reviews, gap repair); 0 turns reading off.
    #[arg(long, env = "VIGIE_POLL_EVERY", default_value_t = 300)]
    pub poll_every: u64,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub const CLASSIFY_QUEUE: &str = "classify";
pub const ESCALATION_QUEUE: &str = "escalations";
pub const DRAFT_QUEUE: &str = "drafts";
/// Comments per drafting batch.
const DRAFT_BATCH: usize = 16;
/// Texts per classification batch taken from the queue.
const CLASSIFY_BATCH: usize = 64;

/// Everything `serve` runs on, built from its arguments; tests build it too.
pub struct Pipeline {
    pub brands: Arc<Brands>,
    /// Sign-in and sessions of the review page and API.
    pub auth: vigie_review::auth::Auth,
    pub secrets: Arc<Secrets>,
    pub store: SqliteStore,
    pub intake: SqliteQueue,
    pub escalations: SqliteQueue,
    pub drafts: SqliteQueue,
    pub scorer: ModelScorer,
    pub speller: Arc<vigie_draft::spelling::HunspellSpeller>,
    pub visibility_seconds: u32,
}

impl Pipeline {
    pub async fn open(args: &ServeArgs) -> anyhow::Result<Self> {
        let brands = Brands::load(&args.config)?;
        let secrets = Secrets::resolve(&brands, &EnvSecrets).await?;
        if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let db = Database::open(&args.db)
            .with_context(|| format!("cannot open {}", args.db.display()))?;
        // ONNX Runtime's threads start with the session and inherit the low priority of
        // the thread that creates it.
        let (loaded, model) = tokio::sync::oneshot::channel();
        let options = args.model.clone();
        std::thread::Builder::new()
            .name("model-load".into())
            .spawn(move || {
                lower_priority();
                let _ = loaded.send(options.load());
            })?;
        let model = model.await??;
        tracing::info!(model = model.version(), "model loaded");
        let store = db.store();
        // The key that signs session cookies: made once, kept next to the database (a
        // restart keeps everyone signed in).
        let key_file = args
            .db
            .with_file_name(format!("{}.session-key", file_stem(&args.db)));
        let key = vigie_review::auth::SessionKey::load_or_create(&key_file)
            .with_context(|| format!("session key {}", key_file.display()))?;
        let mut auth_config = vigie_review::auth::AuthConfig::local(key, args.listen);
        auth_config
            .allowed_hosts
            .extend(args.allowed_hosts.iter().cloned());
        let auth = vigie_review::auth::Auth::new(Arc::new(store.clone()), auth_config)?;
        let ids: Vec<_> = brands.iter().map(|b| b.id.clone()).collect();
        crate::draft::reembed_stale(&store, &ids, &model).await?;
        let speller = vigie_draft::spelling::HunspellSpeller::from_env()?;
        Ok(Self {
            brands: Arc::new(brands),
            auth,
            secrets: Arc::new(secrets),
            store,
            intake: db.queue(CLASSIFY_QUEUE, args.max_receives),
            escalations: db.queue(ESCALATION_QUEUE, args.max_receives),
            drafts: db.queue(DRAFT_QUEUE, args.max_receives),
            scorer: ModelScorer::new(Arc::new(model)),
            speller: Arc::new(speller),
            visibility_seconds: args.visibility_timeout,
        })
    }

    /// Webhooks, the review API, health and counters.
    pub fn router(&self, chat_sink: bool) -> Router {
        let webhook = vigie_webhook::router(Arc::new(vigie_webhook::WebhookState {
            brands: Arc::clone(&self.brands),
            secrets: Arc::clone(&self.secrets),
            store: self.store.clone(),
            queue: self.intake.clone(),
        }));
        let review = vigie_review::router(Arc::new(vigie_review::ReviewState {
            brands: Arc::clone(&self.brands),
            store: self.store.clone(),
            auth: self.auth.clone(),
            drafts: Some(Arc::new(self.drafts.clone())),
            embedder: Some(Arc::new(self.scorer.clone())),
            speller: Some(self.speller.clone()),
        }));
        let (intake, escalations, drafts) = (
            self.intake.clone(),
            self.escalations.clone(),
            self.drafts.clone(),
        );
        // Counters and queue depths are for the machine's operator: only a caller on the
        // loopback interface sees them, others get the answer of a path that does not exist.
        let metrics = get(
            move |peer: Option<axum::Extension<axum::extract::ConnectInfo<SocketAddr>>>| {
                let (intake, escalations, drafts) =
                    (intake.clone(), escalations.clone(), drafts.clone());
                async move {
                    if !for_the_operator(peer.map(|p| p.0.0)) {
                        return vigie_review::ApiError::NoRoute.into_response();
                    }
                    let depth = |q: Result<(usize, usize), _>| {
                        q.map(|(a, b)| serde_json::json!({"waiting": a, "dead_letters": b}))
                            .ok()
                    };
                    Json(serde_json::json!({
                        "counters": vigie_core::events::counters(),
                        "queues": {
                            CLASSIFY_QUEUE: depth(intake.depth().await),
                            ESCALATION_QUEUE: depth(escalations.depth().await),
                            DRAFT_QUEUE: depth(drafts.depth().await),
                        }
                    }))
                    .into_response()
                }
            },
        );
        // A merged router keeps one fallback: the review API's answers every unknown path
        // here, in the same JSON error shape as the webhook's.
        let router = webhook
            .reset_fallback()
            .merge(review)
            .route("/healthz", get(|| async { "ok" }))
            .route("/metrics", metrics);
        if chat_sink {
            router.route("/chat-sink", axum::routing::post(print_chat_message))
        } else {
            router
        }
    }

    /// One round of the classification worker; returns how many messages it took.
    pub async fn classify_once(&self) -> anyhow::Result<usize> {
        let batch = self
            .intake
            .receive(CLASSIFY_BATCH, self.visibility_seconds)
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let classifier = Classifier {
            brands: &self.brands,
            store: &self.store,
            scorer: &self.scorer,
            escalations: &self.escalations,
            drafts: Some(&self.drafts),
        };
        let outcome = classifier.handle(&batch, Timestamp::now()).await;
        settle(&self.intake, &batch, &outcome.failed).await?;
        Ok(batch.len())
    }

    /// One round of the draft worker; returns how many messages it took.
    pub async fn draft_once(&self) -> anyhow::Result<usize> {
        let batch = self
            .drafts
            .receive(DRAFT_BATCH, self.visibility_seconds)
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let grounded = vigie_core::draft::GroundedEngine;
        let engines = vigie_core::drafting::EngineSet::grounded(&grounded);
        let drafter = vigie_core::drafting::Drafter {
            store: &self.store,
            content: &self.store,
            drafts: &self.store,
            engines: &engines,
            speller: &*self.speller,
        };
        let outcome = drafter.handle(&batch, Timestamp::now()).await;
        settle(&self.drafts, &batch, &outcome.failed).await?;
        Ok(batch.len())
    }

    /// One round of the notification worker.
    pub async fn notify_once(&self, notifier: &Notifier<SqliteStore>) -> anyhow::Result<usize> {
        let batch = self
            .escalations
            .receive(10, self.visibility_seconds)
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let failed = notifier.handle(&batch).await;
        settle(&self.escalations, &batch, &failed).await?;
        Ok(batch.len())
    }

    /// Makes the messages a previous process had received and not settled visible again
    /// at once, instead of after their visibility timeout: this process is the only
    /// consumer of its database, so nothing else is working on them.
    pub async fn release_in_flight(&self) -> anyhow::Result<()> {
        for queue in [&self.intake, &self.escalations, &self.drafts] {
            let released = queue.release_in_flight().await?;
            if released > 0 {
                tracing::warn!(
                    queue = queue.name(),
                    released,
                    "messages in flight when the previous process stopped are queued again"
                );
            }
        }
        Ok(())
    }

    /// Requeues comments stored but never queued (a crash in between).
    pub async fn sweep_once(&self) -> anyhow::Result<usize> {
        sweep(&self.store, &self.intake, Timestamp::now()).await
    }
}

/// Whether a caller may read the operator's routes (`/metrics`): one on the loopback
/// interface, or one the server did not see through a socket (an in-process call).
fn for_the_operator(peer: Option<SocketAddr>) -> bool {
    peer.is_none_or(|p| p.ip().is_loopback())
}

/// The log line of a message the chat sink received: escaped, so a message with a line
/// break or a control character cannot forge a line of the log it is printed into.
fn sink_line(text: &str) -> String {
    format!("chat-sink: {}", text.escape_debug())
}

fn file_stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map_or_else(|| "vigie".into(), |s| s.to_string_lossy().into_owned())
}

/// The background sweep: forgets what expired, requeues comments left `Received` for
/// longer than `REQUEUE_AFTER_MS`.
async fn sweep(store: &SqliteStore, intake: &SqliteQueue, now: Timestamp) -> anyhow::Result<usize> {
    store.purge_expired(now).await?;
    Ok(requeue_pending(store, intake, now, REQUEUE_AFTER_MS, 500).await?)
}

async fn print_chat_message(Json(message): Json<serde_json::Value>) -> &'static str {
    let text = message["text"]
        .as_str()
        .or_else(|| message["attachments"][0]["content"]["body"][0]["text"].as_str())
        .unwrap_or_default();
    eprintln!("{}", sink_line(text));
    "ok"
}

/// Acks what succeeded; failed messages come back after a delay growing with their receives.
async fn settle<Q: QueueReceive>(
    queue: &Q,
    batch: &[vigie_core::ports::Delivery],
    failed: &[String],
) -> anyhow::Result<()> {
    let done: Vec<String> = batch
        .iter()
        .filter(|d| !failed.contains(&d.message_id))
        .map(|d| d.receipt.clone())
        .collect();
    queue.ack(&done).await?;
    for d in batch.iter().filter(|d| failed.contains(&d.message_id)) {
        let delay = 2u32.saturating_pow(d.receive_count.min(6));
        queue.release(&d.receipt, delay).await?;
    }
    Ok(())
}

async fn worker<F, Fut>(name: &'static str, idle: Duration, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    loop {
        match round().await {
            Ok(0) => tokio::time::sleep(idle).await,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(worker = name, error = %e, "worker round failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Classification runs below intake's priority, so that on a busy machine a delivery is
/// answered without waiting for the model: intake takes the CPU when it needs it.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; on Linux `0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, CLASSIFY_NICENESS);
    }
}

/// How much lower than intake classification runs (a nice value).
const CLASSIFY_NICENESS: libc::c_int = 10;

pub async fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    // Bound first: the address actually listened on (port 0 picks one) is what the review
    // surface answers for.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    args.listen = listener.local_addr()?;
    let pipeline = Arc::new(Pipeline::open(&args).await?);
    pipeline.release_in_flight().await?;
    let notifier = Arc::new(Notifier::new(
        (*pipeline.brands).clone(),
        (*pipeline.secrets).clone(),
        RetryPolicy::default(),
        pipeline.store.clone(),
    ));
    // Its own runtime, every thread of it (the model's included) at low priority.
    let classify = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("classify")
        .on_thread_start(lower_priority)
        .enable_time()
        .build()?;
    let p = Arc::clone(&pipeline);
    classify.spawn(worker("classify", Duration::from_millis(20), move || {
        let p = Arc::clone(&p);
        async move { p.classify_once().await }
    }));
    let (p, n) = (Arc::clone(&pipeline), Arc::clone(&notifier));
    tokio::spawn(worker("notify", Duration::from_millis(200), move || {
        let (p, n) = (Arc::clone(&p), Arc::clone(&n));
        async move { p.notify_once(&n).await }
    }));
    let p = Arc::clone(&pipeline);
    tokio::spawn(worker("draft", Duration::from_millis(100), move || {
        let p = Arc::clone(&p);
        async move { p.draft_once().await }
    }));
    let p = Arc::clone(&pipeline);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            if let Err(e) = p.sweep_once().await {
                tracing::error!(error = %e, "sweep failed");
            }
        }
    });
    let feeds = vigie_core::poll::feeds(&pipeline.brands, &pipeline.secrets);
    if args.poll_every > 0 && !feeds.is_empty() {
        let polling = vigie_poll::Polling::new(
            (*pipeline.brands).clone(),
            (*pipeline.secrets).clone(),
            pipeline.store.clone(),
            pipeline.intake.clone(),
            vigie_poll::ReqwestClient::new(),
        );
        let every = Duration::from_secs(args.poll_every);
        eprintln!(
            "reading {} feed(s) every {} s",
            feeds.len(),
            args.poll_every
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match polling.run(Timestamp::now()).await {
                    Ok(s) => {
                        for f in s
                            .report
                            .feeds
                            .iter()
                            .filter(|f| f.error.is_some() || f.missed > 0)
                        {
                            eprintln!("poll {}", crate::poll::line(f));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "poll run failed"),
                }
            }
        });
    }
    eprintln!(
        "vigie serving on http://{} (brands from {})",
        listener.local_addr()?,
        args.config.display()
    );
    let limits = crate::http::Limits {
        header_read: Duration::from_secs(args.header_read_timeout),
        body_read: Duration::from_secs(args.body_read_timeout),
        idle: Duration::from_secs(args.idle_timeout),
    };
    crate::http::serve(listener, pipeline.router(args.chat_sink), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    classify.shutdown_background();
    Ok(())
}

#[cfg(test)]
mod tests {
    use vigie_core::comment::{Author, CommentKey, CommentState, CommentText, Platform};
    use vigie_core::ports::{CommentRead, CommentWrite, QueueReceive, RawArchive, RawDelivery};
    use vigie_core::{BrandId, Comment};

    #[test]
    fn only_loopback_callers_read_the_operators_routes() {
        let at = |a: &str| Some(a.parse::<std::net::SocketAddr>().unwrap());
        assert!(super::for_the_operator(at("127.0.0.1:5000")));
        assert!(super::for_the_operator(at("[::1]:5000")));
        assert!(super::for_the_operator(None));
        assert!(!super::for_the_operator(at("192.168.1.20:5000")));
        assert!(!super::for_the_operator(at("[2001:db8::1]:5000")));
    }

    #[test]
    fn a_chat_message_cannot_forge_a_log_line() {
        let line = super::sink_line("ok\n2026-12-02T10:00:00Z INFO admin signed in\r\u{1b}[2J");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(!line.contains('\u{1b}'), "{line}");
        assert!(line.starts_with("chat-sink: ok\\n2026"), "{line}");
        assert_eq!(
            super::sink_line("Colis reçu 👍"),
            "chat-sink: Colis reçu 👍"
        );
    }

    use super::*;

    fn received(id: &str, at: Timestamp) -> Comment {
        Comment {
            key: CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Facebook, id).unwrap(),
            thread_id: "1001_9".into(),
            parent_id: None,
            source: None,
            author: Author {
                id: "77".into(),
                name: None,
                followers: None,
            },
            text: Some(CommentText::parse("Colis jamais reçu").unwrap()),
            attachment: None,
            truncation: None,
            permalink: None,
            created_at: at,
            received_at: at,
            version: 1,
            state: CommentState::Received,
            triage: None,
            escalated_version: None,
            private: false,
            revision: 0,
        }
    }

    #[tokio::test]
    async fn the_sweep_requeues_what_is_older_than_a_minute_and_nothing_younger() {
        let db = Database::in_memory().unwrap();
        let (store, intake) = (db.store(), db.queue(CLASSIFY_QUEUE, 5));
        let now = Timestamp::now();
        for (id, age) in [("old", 61_000), ("a-minute", 60_000), ("young", 59_000)] {
            store
                .insert_if_new(&received(id, now.plus_millis(-age)))
                .await
                .unwrap();
        }
        let raw = |id: &str, expires_at| RawDelivery {
            id: id.into(),
            platform: Platform::Facebook,
            received_at: now,
            expires_at,
            body: b"{}".to_vec(),
        };
        store.put_raw(&raw("expired", now)).await.unwrap();
        store
            .put_raw(&raw("kept", now.plus_millis(1)))
            .await
            .unwrap();

        assert_eq!(sweep(&store, &intake, now).await.unwrap(), 1);
        let batch = intake.receive(10, 30).await.unwrap();
        let ids: Vec<&str> = batch.iter().map(|d| d.message_id.as_str()).collect();
        assert_eq!(ids, ["acme/facebook/old#v1"]);
        let state = |id: &'static str| {
            let store = store.clone();
            async move {
                let key = CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Facebook, id);
                store.get(&key.unwrap()).await.unwrap().unwrap().state
            }
        };
        assert_eq!(state("old").await, CommentState::Queued);
        assert_eq!(state("a-minute").await, CommentState::Received);
        assert_eq!(state("young").await, CommentState::Received);
        assert_eq!(store.get_raw("expired").await.unwrap(), None);
        assert!(store.get_raw("kept").await.unwrap().is_some());
        // A second later the next one is over a minute old: queued, once.
        let later = now.plus_millis(1_000);
        assert_eq!(sweep(&store, &intake, later).await.unwrap(), 1);
        assert_eq!(sweep(&store, &intake, later).await.unwrap(), 0);
        assert_eq!(state("young").await, CommentState::Received);
    }
}
