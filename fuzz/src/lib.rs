//! The intake use case on in-memory fakes, for fuzzing: bodies arrive with a valid
//! signature, so everything past authentication is reached, and what intake did is
//! checked against its promises after each delivery.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use vigie_core::comment::{Comment, CommentKey, CommentState, Platform, ThreadKey};
use vigie_core::config::Brands;
use vigie_core::intake::{ClassifyRequest, Intake, IntakeError, IntakeReport, WebhookRequest};
use vigie_core::platforms::{self, AppKeys, Inbound};
use vigie_core::ports::{
    CommentRead, CommentWrite, Inserted, OutgoingMessage, QueueError, QueueSend, RawArchive,
    RawDelivery, StoreError,
};
use vigie_core::secrets::Secrets;
use vigie_core::{BrandId, Timestamp};

pub const META_APP_SECRET: &[u8] = b"fuzz-meta-app-secret";
pub const X_SECRET: &[u8] = b"fuzz-x-consumer-secret";
pub const LINKEDIN_SECRET: &[u8] = b"fuzz-linkedin-client-secret";
pub const TIKTOK_SECRET: &[u8] = b"fuzz-tiktok-client-secret";
pub const GENERIC_SECRET: &[u8] = b"fuzz-generic-secret";
pub const NOW: Timestamp = Timestamp(1_764_086_400_000);

/// The sample configuration's accounts, so that the sample deliveries (the seeds) reach
/// a brand.
const BRANDS: &str = r#"
[meta]
app_secret = { env = "FUZZ_META_APP_SECRET" }
verify_token = { env = "FUZZ_META_VERIFY_TOKEN" }

[apps.x]
platform = "x"
secret = { env = "FUZZ_X_SECRET" }

[apps.linkedin]
platform = "linkedin"
secret = { env = "FUZZ_LINKEDIN_SECRET" }

[apps.tiktok]
platform = "tiktok"
secret = { env = "FUZZ_TIKTOK_SECRET" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["100200300400500"]
instagram_account_ids = ["17841400000000001"]
accounts = { x = ["2244994945"], linkedin = ["2414183"], tiktok = ["-000OXv3Jb5RkQZ"] }
generic_secret = { env = "FUZZ_GENERIC_SECRET" }
vip_authors = ["instagram:lea.influence"]
"#;

struct Setup {
    brands: Brands,
    secrets: Secrets,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let brands = Brands::parse(Path::new("fuzz-brands.toml"), BRANDS).expect("valid brands");
        let acme = BrandId::parse("acme").expect("valid id");
        let mut secrets = Secrets::default()
            .with_app(
                "meta",
                AppKeys::new(META_APP_SECRET).with_verify_token("fuzz-verify-token"),
            )
            .with_app("x", AppKeys::new(X_SECRET))
            .with_app("linkedin", AppKeys::new(LINKEDIN_SECRET))
            .with_app("tiktok", AppKeys::new(TIKTOK_SECRET));
        secrets.generic = HashMap::from([(acme, GENERIC_SECRET.to_vec())]);
        Setup { brands, secrets }
    })
}

/// The store as the adapters behave: conditional insert, revision-checked update.
#[derive(Default)]
pub struct MemoryStore {
    comments: Mutex<BTreeMap<CommentKey, Comment>>,
    raw: Mutex<HashMap<String, RawDelivery>>,
    reads: Mutex<BTreeMap<(String, String), Timestamp>>,
}

impl MemoryStore {
    pub fn comments(&self) -> Vec<Comment> {
        self.comments.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl CommentWrite for MemoryStore {
    async fn insert_if_new(&self, comment: &Comment) -> Result<Inserted, StoreError> {
        let mut comments = self.comments.lock().unwrap();
        if let Some(existing) = comments.get(&comment.key) {
            return Ok(Inserted::Existing(existing.clone()));
        }
        let mut c = comment.clone();
        c.revision = 1;
        comments.insert(c.key.clone(), c.clone());
        Ok(Inserted::New(c))
    }

    async fn update(&self, comment: &Comment) -> Result<Comment, StoreError> {
        let mut comments = self.comments.lock().unwrap();
        let stored = comments.get_mut(&comment.key).ok_or(StoreError::Conflict)?;
        if stored.revision != comment.revision {
            return Err(StoreError::Conflict);
        }
        let mut c = comment.clone();
        c.revision += 1;
        *stored = c.clone();
        Ok(c)
    }
}

#[async_trait]
impl CommentRead for MemoryStore {
    async fn get(&self, key: &CommentKey) -> Result<Option<Comment>, StoreError> {
        Ok(self.comments.lock().unwrap().get(key).cloned())
    }

    async fn thread(&self, thread: &ThreadKey, limit: usize) -> Result<Vec<Comment>, StoreError> {
        let mut found: Vec<Comment> = self
            .comments
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.thread() == *thread)
            .cloned()
            .collect();
        found.sort_by_key(|c| c.received_at);
        found.truncate(limit);
        Ok(found)
    }
}

#[async_trait]
impl RawArchive for MemoryStore {
    async fn put_raw(&self, raw: &RawDelivery) -> Result<(), StoreError> {
        self.raw.lock().unwrap().insert(raw.id.clone(), raw.clone());
        Ok(())
    }

    async fn get_raw(&self, id: &str) -> Result<Option<RawDelivery>, StoreError> {
        Ok(self.raw.lock().unwrap().get(id).cloned())
    }
}

#[async_trait]
impl vigie_core::poll::ReadRequests for MemoryStore {
    async fn request_read(&self, feed: &str, page: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut reads = self.reads.lock().unwrap();
        reads
            .entry((feed.to_owned(), page.to_owned()))
            .or_insert(at);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<OutgoingMessage>>,
}

#[async_trait]
impl QueueSend for MemoryQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        self.sent.lock().unwrap().extend_from_slice(messages);
        Ok(())
    }
}

/// Runs a future of the fakes to completion: they never wait, so one poll is enough.
fn run_now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the in-memory fakes never wait"),
    }
}

/// The webhooks signed with an HMAC, in this order (Google's pushes carry Google's token).
const SIGNED: [Platform; 6] = [
    Platform::Facebook,
    Platform::Instagram,
    Platform::X,
    Platform::LinkedIn,
    Platform::TikTok,
    Platform::Generic,
];

fn platform_of(selector: u8) -> Platform {
    SIGNED[usize::from(selector) % SIGNED.len()]
}

/// One delivery, signed as its platform signs, through intake.
fn deliver(
    store: &MemoryStore,
    queue: &MemoryQueue,
    platform: Platform,
    body: &[u8],
) -> Result<IntakeReport, IntakeError> {
    let setup = setup();
    let secret = match platform {
        Platform::Generic => GENERIC_SECRET,
        Platform::X => X_SECRET,
        Platform::LinkedIn => LINKEDIN_SECRET,
        Platform::TikTok => TIKTOK_SECRET,
        Platform::Facebook | Platform::Instagram => META_APP_SECRET,
        Platform::Google | Platform::YouTube | Platform::Reddit => {
            unreachable!("not among the signed webhooks")
        }
    };
    let mut headers = platforms::source(platform).sign(&AppKeys::new(secret), body, NOW);
    if platform == Platform::Generic {
        headers.push((platforms::generic::BRAND_HEADER, "acme".into()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let intake = Intake {
        brands: &setup.brands,
        secrets: &setup.secrets,
        store,
        queue,
    };
    let req = WebhookRequest {
        platform,
        app: None,
        inbound: Inbound {
            headers: &headers,
            query: &[],
            body,
        },
    };
    run_now(intake.receive(req, NOW))
}

/// The fuzz target: `data[0]` picks the webhook, `data[1..]` is the body.
pub fn intake_signed(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let platform = platform_of(selector);
    let store = MemoryStore::default();
    let queue = MemoryQueue::default();

    let first = deliver(&store, &queue, platform, body);
    check(&store, &queue, platform, body, &first);
    let stored = store.comments().len();
    let sent = queue.sent.lock().unwrap().len();
    if let Ok(report) = &first {
        assert_eq!(sent, report.queued);
    }

    // A redelivery (the platform did not see our answer) creates no comment.
    let again = deliver(&store, &queue, platform, body);
    check(&store, &queue, platform, body, &again);
    if let Ok(report) = &again {
        assert_eq!(
            report.stored + report.own,
            0,
            "a redelivery stored: {report:?}"
        );
        assert_eq!(store.comments().len(), stored);
        assert_eq!(queue.sent.lock().unwrap().len(), sent + report.queued);
    }
}

/// What intake promises after a delivery, whatever the body said.
fn check(
    store: &MemoryStore,
    queue: &MemoryQueue,
    platform: Platform,
    body: &[u8],
    outcome: &Result<IntakeReport, IntakeError>,
) {
    match outcome {
        Ok(report) => {
            let accounted = report.stored
                + report.duplicates
                + report.edited
                + report.deleted
                + report.own
                + report.ignored;
            assert_eq!(
                accounted, report.events,
                "an event went unaccounted: {report:?}"
            );
        }
        // A body that is not a delivery is refused (4xx), and kept all the same.
        Err(IntakeError::Malformed(_)) => {}
        Err(e) => panic!("a signed delivery on working fakes failed: {e}"),
    }
    // Authenticated bytes are archived before parsing.
    let id = hex::encode(Sha256::digest(body));
    let raw = run_now(store.get_raw(&id))
        .unwrap()
        .expect("the body archived");
    assert_eq!(raw.body, body);
    assert_eq!(raw.platform, platform);

    let comments = store.comments();
    for c in &comments {
        assert_eq!(c.key.platform, platform);
        assert!(!c.key.external_id.trim().is_empty(), "no id: {c:?}");
        assert!(
            c.text
                .as_ref()
                .is_some_and(|t| !t.as_str().trim().is_empty())
                || c.attachment.is_some(),
            "neither text nor attachment: {c:?}"
        );
        assert!(!c.thread_id.trim().is_empty(), "no thread: {c:?}");
        // Everything stored for classification is queued when intake answers.
        if outcome.is_ok() {
            assert_ne!(
                c.state,
                CommentState::Received,
                "stored, never queued: {c:?}"
            );
        }
    }
    for m in queue.sent.lock().unwrap().iter() {
        let req: ClassifyRequest = serde_json::from_str(&m.body).expect("a classify request");
        let c = comments
            .iter()
            .find(|c| c.key == req.key)
            .expect("a request for a stored comment");
        assert!(req.version <= c.version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds (the sample deliveries) reach comments; run with `cargo test` in fuzz/.
    #[test]
    fn the_seeds_store_comments() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/intake_signed");
        let mut stored = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            intake_signed(&data);
            let store = MemoryStore::default();
            let queue = MemoryQueue::default();
            let report = deliver(&store, &queue, platform_of(data[0]), &data[1..]).unwrap();
            stored += report.stored;
        }
        assert!(stored >= 9, "{stored}");
    }
}
