//! The poll function: on a schedule, reads the platforms that have no usable webhooks
//! (YouTube, Reddit), the Google reviews its notifications name, and the recent comments
//! of push platforms (gap repair), into the same idempotent intake as the webhooks.
//!
//! The handler is [`Polling::run`], a plain library function over the store, queue and
//! HTTP ports; `main` mounts it on a scheduled Lambda, `vigie serve` calls it on a timer.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use vigie_core::Timestamp;
use vigie_core::config::Brands;
use vigie_core::poll::{
    HttpClient, HttpRequest, HttpResponse, Method, PollError, PollReport, PollSettings, PollStore,
    Poller, Tokens, TransportError,
};
use vigie_core::ports::{CommentRead, CommentWrite, QueueSend, RawArchive};
use vigie_core::secrets::Secrets;

/// How long one API call may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The platforms' APIs over HTTPS (reqwest with rustls).
#[derive(Clone)]
pub struct ReqwestClient(reqwest::Client);

impl ReqwestClient {
    pub fn new() -> Self {
        Self(
            reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("a TLS backend is compiled in"),
        )
    }
}

impl Default for ReqwestClient {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl HttpClient for ReqwestClient {
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = match req.method {
            Method::Get => self.0.get(&req.url),
            Method::Post => match &req.json {
                Some(body) => self
                    .0
                    .post(&req.url)
                    .header("content-type", "application/json")
                    .body(body.clone()),
                None => self.0.post(&req.url).form(&req.form),
            },
        };
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        // the URL carries no secret (tokens go in headers), but may be long: the host is enough
        let host = |e: &reqwest::Error| {
            e.url()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let resp = builder
            .send()
            .await
            .map_err(|e| TransportError(format!("{}: {}", host(&e), without_url(&e))))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TransportError(without_url(&e)))?
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(u) = e.url() {
        text = text.replace(u.as_str(), "");
    }
    text
}

/// Everything a run needs, built once per process: its access tokens live across runs.
pub struct Polling<S, Q, H> {
    pub brands: Brands,
    pub secrets: Secrets,
    pub store: S,
    pub queue: Q,
    pub http: H,
    pub settings: PollSettings,
    pub tokens: Tokens,
}

/// A run's summary, as the function returns it and `vigie poll` prints it.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub feeds: usize,
    pub stored: usize,
    pub missed: usize,
    pub failed: usize,
    pub report: PollReport,
}

impl<S, Q, H> Polling<S, Q, H>
where
    S: CommentWrite + CommentRead + RawArchive + PollStore,
    Q: QueueSend,
    H: HttpClient,
{
    pub fn new(brands: Brands, secrets: Secrets, store: S, queue: Q, http: H) -> Self {
        Self {
            brands,
            secrets,
            store,
            queue,
            http,
            settings: PollSettings::default(),
            tokens: Tokens::default(),
        }
    }

    /// Reads every feed once. A feed that fails backs off and is reported; a store or queue
    /// failure fails the run (the scheduler runs it again).
    pub async fn run(&self, now: Timestamp) -> Result<Summary, PollError> {
        let poller = Poller {
            brands: &self.brands,
            secrets: &self.secrets,
            store: &self.store,
            queue: &self.queue,
            http: &self.http,
            settings: self.settings,
            tokens: &self.tokens,
        };
        let report = poller.run(now).await?;
        let summary = Summary {
            feeds: report.feeds.len(),
            stored: report.stored(),
            missed: report.missed(),
            failed: report.failed(),
            report,
        };
        tracing::info!(
            event = "poll_run",
            feeds = summary.feeds,
            stored = summary.stored,
            missed = summary.missed,
            failed = summary.failed,
            "poll run done"
        );
        Ok(summary)
    }
}
