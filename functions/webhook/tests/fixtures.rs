//! The byte-exact deliveries under `tests/fixtures/webhooks/<platform>/`, with the headers
//! `scripts/sign-fixtures` computed for them from the stated test secrets (an
//! implementation apart from vigie's), through intake on the embedded store and queue:
//! each platform row of the capability table in docs/platforms.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use vigie_core::comment::{BrandId, Comment, CommentKey, CommentState, Platform};
use vigie_core::config::Brands;
use vigie_core::intake::{Intake, IntakeReport, WebhookRequest};
use vigie_core::platforms::{self, AppKeys, Inbound};
use vigie_core::ports::CommentRead;
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/webhooks")
}

#[derive(serde::Deserialize)]
struct Stated {
    signed_at: i64,
    apps: BTreeMap<String, StatedApp>,
}

#[derive(serde::Deserialize)]
struct StatedApp {
    #[serde(default)]
    secret: String,
}

fn stated() -> Stated {
    serde_json::from_slice(&std::fs::read(root().join("secrets.json")).unwrap()).unwrap()
}

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[apps.x]
platform = "x"
secret = { env = "UNUSED_IN_TESTS" }

[apps.linkedin]
platform = "linkedin"
secret = { env = "UNUSED_IN_TESTS" }

[apps.tiktok]
platform = "tiktok"
secret = { env = "UNUSED_IN_TESTS" }

[apps.google]
platform = "google"
jwks = { env = "UNUSED_IN_TESTS" }
audience = "https://vigie.example/webhooks/google"
service_account = "pubsub-push@acme-reviews.iam.gserviceaccount.com"

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
instagram_account_ids = ["17841400000000001"]
accounts = { x = ["2244994945"], linkedin = ["2414183"], tiktok = ["-000OXv3Jb5RkQZ"], google = ["accounts/111222333/locations/444555666"] }
generic_secret = { env = "UNUSED_IN_TESTS" }
"#;

struct World {
    brands: Brands,
    secrets: Secrets,
    store: SqliteStore,
    queue: SqliteQueue,
    now: Timestamp,
}

fn world() -> World {
    let stated = stated();
    let key = |p: &str| stated.apps[p].secret.as_bytes().to_vec();
    let mut secrets = Secrets::default()
        .with_app(
            "meta",
            AppKeys::new(key("facebook")).with_verify_token("meta-test-verify-token"),
        )
        .with_app("x", AppKeys::new(key("x")))
        .with_app("linkedin", AppKeys::new(key("linkedin")))
        .with_app("tiktok", AppKeys::new(key("tiktok")))
        .with_app(
            "google",
            platforms::google::keys(&test_key("jwks.json"), AUDIENCE, Some(PUSH_ACCOUNT)).unwrap(),
        );
    secrets.generic.insert(acme(), key("generic"));
    let db = Database::in_memory().unwrap();
    World {
        brands: Brands::parse("brands.toml".as_ref(), CONFIG).unwrap(),
        secrets,
        store: db.store(),
        queue: db.queue("classify", 5),
        now: Timestamp::from_unix_seconds(stated.signed_at),
    }
}

const AUDIENCE: &str = "https://vigie.example/webhooks/google";
const PUSH_ACCOUNT: &str = "pubsub-push@acme-reviews.iam.gserviceaccount.com";

/// The test keys of the review crate (its README says how they were made).
fn test_key(file: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../review/tests/keys")
            .join(file),
    )
    .unwrap()
}

/// A push token as Pub/Sub writes one, signed with `pem` under `kid`, with `edit`ed claims.
fn push_token(pem: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = serde_json::json!({
        "aud": AUDIENCE, "azp": "1234567890", "email": PUSH_ACCOUNT, "email_verified": true,
        "exp": now + 3600, "iat": now, "iss": "https://accounts.google.com", "sub": "1234567890",
    });
    edit(&mut claims);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(test_key(pem).as_bytes()).unwrap();
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

fn acme() -> BrandId {
    BrandId::parse("acme").unwrap()
}

/// A fixture's body and the headers the script wrote for it (none for Google's pushes,
/// whose tokens are signed here).
fn fixture(name: &str) -> (Vec<u8>, Vec<(String, String)>) {
    let body = std::fs::read(root().join(format!("{name}.json"))).unwrap();
    let headers: BTreeMap<String, String> =
        match std::fs::read(root().join(format!("{name}.headers.json"))) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => BTreeMap::new(),
        };
    (body, headers.into_iter().collect())
}

fn platform_of(name: &str) -> Platform {
    Platform::parse(name.split('/').next().unwrap()).unwrap()
}

impl World {
    async fn deliver(&self, name: &str) -> IntakeReport {
        let (body, headers) = fixture(name);
        self.deliver_with(name, &body, headers)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    async fn deliver_with(
        &self,
        name: &str,
        body: &[u8],
        headers: Vec<(String, String)>,
    ) -> Result<IntakeReport, vigie_core::intake::IntakeError> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        Intake {
            brands: &self.brands,
            secrets: &self.secrets,
            store: &self.store,
            queue: &self.queue,
        }
        .receive(
            WebhookRequest {
                platform: platform_of(name),
                app: None,
                inbound: Inbound {
                    headers: &headers,
                    query: &[],
                    body,
                },
            },
            self.now,
        )
        .await
    }

    async fn comment(&self, platform: Platform, id: &str) -> Comment {
        self.store
            .get(&CommentKey::new(acme(), platform, id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{platform} {id} not stored"))
    }
}

fn report(events: usize, f: impl FnOnce(&mut IntakeReport)) -> IntakeReport {
    let mut r = IntakeReport {
        events,
        ..Default::default()
    };
    f(&mut r);
    r
}

fn text(c: &Comment) -> &str {
    c.text.as_ref().map(|t| t.as_str()).unwrap_or_default()
}

#[test]
fn the_script_and_vigie_sign_alike() {
    let stated = stated();
    let mut names = Vec::new();
    for platform in Platform::ALL {
        let dir = root().join(platform.as_str());
        let mut files: Vec<PathBuf> = walk(&dir);
        files.sort();
        for file in files {
            let rel = file
                .strip_prefix(root())
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let name = rel.trim_end_matches(".json").to_owned();
            let (body, headers) = fixture(&name);
            if platform == Platform::Google {
                continue;
            }
            let keys = AppKeys::new(stated.apps[platform.as_str()].secret.as_bytes().to_vec());
            let mine = platforms::source(platform).sign(
                &keys,
                &body,
                Timestamp::from_unix_seconds(stated.signed_at),
            );
            for (header, value) in mine {
                let theirs = headers.iter().find(|(n, _)| n == header).map(|(_, v)| v);
                assert_eq!(theirs, Some(&value), "{name}: {header}");
            }
            names.push(name);
        }
    }
    assert!(names.len() >= 13, "{names:?}");
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

#[tokio::test]
async fn facebook_with_meta_escaping_edits_duplicates_and_deletes() {
    let w = world();
    let r = w.deliver("facebook/comments-escaped").await;
    assert_eq!(
        r,
        report(4, |r| {
            r.stored = 2;
            r.own = 1;
            r.ignored = 1;
            r.queued = 2;
        })
    );
    let c = w.comment(Platform::Facebook, "5_900").await;
    // Meta's \u00e7, \ud83d\ude21, \u0040, \u0025 and \u003C\/ read as the characters.
    assert_eq!(
        text(&c),
        "Toujours pas reçu ma commande 😡 @Acme, je suis 100% déçue </3"
    );
    assert_eq!(c.author.name.as_deref(), Some("Jeanne Dupré"));
    assert_eq!(
        c.permalink.as_deref(),
        Some("https://www.facebook.com/1001/posts/5")
    );
    assert_eq!(
        w.comment(Platform::Facebook, "5_901").await.state,
        CommentState::OwnReply
    );
    assert!(
        w.comment(Platform::Facebook, "5_902")
            .await
            .attachment
            .is_some()
    );
    let r = w.deliver("facebook/edit-duplicate-delete").await;
    assert_eq!(
        r,
        report(3, |r| {
            r.edited = 1;
            r.duplicates = 1;
            r.deleted = 1;
            r.queued = 1;
        })
    );
    let c = w.comment(Platform::Facebook, "5_900").await;
    assert_eq!(c.version, 2);
    assert!(text(&c).ends_with("(n° 48213)"));
    assert_eq!(
        w.comment(Platform::Facebook, "5_902").await.state,
        CommentState::Deleted
    );
    // The same bytes again: nothing new.
    let again = w.deliver("facebook/comments-escaped").await;
    assert_eq!((again.stored, again.duplicates), (0, 3));
}

#[tokio::test]
async fn instagram_own_comments_and_mentions() {
    let w = world();
    let r = w.deliver("instagram/comments").await;
    assert_eq!(
        r,
        report(3, |r| {
            r.stored = 1;
            r.own = 1;
            r.ignored = 1;
            r.queued = 1;
        })
    );
    let c = w.comment(Platform::Instagram, "17865799348089039").await;
    assert_eq!(
        text(&c),
        "J’adore la nouvelle collection ❤️ mais la taille 38 est introuvable 😢"
    );
    assert_eq!(
        w.comment(Platform::Instagram, "17865799348089040")
            .await
            .state,
        CommentState::OwnReply
    );
}

#[tokio::test]
async fn x_replies_mentions_own_replies_retweets_deletes_and_messages() {
    let w = world();
    let r = w.deliver("x/replies").await;
    assert_eq!(
        r,
        report(5, |r| {
            r.stored = 2;
            r.own = 1;
            r.ignored = 2;
            r.queued = 2;
        })
    );
    let reply = w.comment(Platform::X, "1993000000000000001").await;
    assert_eq!(
        text(&reply),
        "@acme colis jamais arrivé 😡 https://t.co/AbCdEf"
    );
    assert_eq!(reply.thread_id, "1992999999999999999");
    assert_eq!(reply.author.followers, Some(1200));
    let long = w.comment(Platform::X, "1993000000000000002").await;
    assert!(
        text(&long).ends_with("le SAV ne répond plus."),
        "{}",
        text(&long)
    );
    assert_eq!(
        w.comment(Platform::X, "1993000000000000003").await.state,
        CommentState::OwnReply
    );
    let r = w.deliver("x/delete").await;
    assert_eq!(r.deleted, 1);
    assert_eq!(reply.key.platform, Platform::X);
    assert_eq!(
        w.comment(Platform::X, "1993000000000000001").await.state,
        CommentState::Deleted
    );
    // A direct message: private, threaded by the other party, named from `users`.
    let r = w.deliver("x/direct-message").await;
    assert_eq!(
        r,
        report(1, |r| {
            r.stored = 1;
            r.queued = 1;
        })
    );
    let dm = w.comment(Platform::X, "1993000000000000100").await;
    assert!(dm.private);
    assert_eq!(dm.thread_id, "dm:77");
    assert_eq!(dm.author.name.as_deref(), Some("jeanne_d"));
    assert!(text(&dm).starts_with("Bonjour, ma commande n° 48213"));
    assert!(!reply.private);
}

#[tokio::test]
async fn messenger_messages_photos_echoes_and_receipts() {
    let w = world();
    let r = w.deliver("facebook/messenger").await;
    assert_eq!(
        r,
        report(4, |r| {
            r.stored = 2;
            r.own = 1;
            r.ignored = 1;
            r.queued = 2;
        })
    );
    let m = w.comment(Platform::Facebook, "m_AbCdEf0123456789").await;
    assert!(m.private);
    assert_eq!(m.thread_id, "dm:6100000000000001");
    assert_eq!(m.created_at, Timestamp(1_764_086_500_000));
    assert_eq!(
        text(&m),
        "Bonjour, ma commande n° 48213 est arrivée abîmée 😞"
    );
    let photo = w.comment(Platform::Facebook, "m_AbCdEf0123456790").await;
    assert_eq!(
        photo.attachment.unwrap().kind,
        vigie_core::comment::AttachmentKind::Photo
    );
    // The page's answer, echoed back, is in the same conversation.
    let echo = w.comment(Platform::Facebook, "m_AbCdEf0123456791").await;
    assert_eq!(
        (echo.state, echo.thread_id.as_str()),
        (CommentState::OwnReply, "dm:6100000000000001")
    );
}

#[tokio::test]
async fn instagram_messages_edits_and_unsends() {
    let w = world();
    let r = w.deliver("instagram/messages").await;
    // The unsent message was never stored: its delete finds nothing (counted as ignored).
    assert_eq!(
        r,
        report(3, |r| {
            r.stored = 1;
            r.edited = 1;
            r.ignored = 1;
            r.queued = 1;
        })
    );
    let m = w
        .comment(
            Platform::Instagram,
            "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx",
        )
        .await;
    assert!(m.private);
    assert_eq!(m.version, 2);
    assert_eq!(text(&m), "Coucou ! La robe rouge existe en 38 ou 40 ? 🙏");
}

#[tokio::test]
async fn linkedin_batches_with_two_urn_spellings_edits_and_deletes() {
    let w = world();
    let r = w.deliver("linkedin/notifications").await;
    // The second notification names the first comment with the other URN: a duplicate.
    assert_eq!(
        r,
        report(4, |r| {
            r.stored = 1;
            r.duplicates = 1;
            r.own = 1;
            r.ignored = 1;
            r.queued = 1;
        })
    );
    let id = "urn:li:comment:(urn:li:activity:7400000000000000002,7400000000000000003)";
    let c = w.comment(Platform::LinkedIn, id).await;
    assert_eq!(c.thread_id, "urn:li:share:7400000000000000001");
    assert!(text(&c).ends_with("en alternance ? 🙏"));
    let own = w
        .comment(
            Platform::LinkedIn,
            "urn:li:comment:(urn:li:activity:7400000000000000002,7400000000000000004)",
        )
        .await;
    assert_eq!(own.state, CommentState::OwnReply);
    assert_eq!(own.parent_id.as_deref(), Some(id));
    let r = w.deliver("linkedin/edit-delete").await;
    assert_eq!(
        r,
        report(2, |r| {
            r.edited = 1;
            r.deleted = 1;
            r.queued = 1;
        })
    );
    assert!(text(&w.comment(Platform::LinkedIn, id).await).contains("à Lyon"),);
}

#[tokio::test]
async fn tiktok_comments_owner_replies_deletes_and_visibility_changes() {
    let w = world();
    let r = w.deliver("tiktok/comment").await;
    assert_eq!(
        r,
        report(1, |r| {
            r.stored = 1;
            r.queued = 1;
        })
    );
    // Ids beyond 2^53, sent as bare JSON numbers inside the content string, stay exact.
    let c = w.comment(Platform::TikTok, "7576000000000000001").await;
    assert_eq!(c.thread_id, "7575000000000000001");
    assert_eq!(
        text(&c),
        "Livraison en retard de 2 semaines 😤 c’est une blague ?"
    );
    let r = w.deliver("tiktok/reply-by-owner").await;
    assert_eq!(r.own, 1);
    let r = w.deliver("tiktok/delete").await;
    assert_eq!(r.deleted, 1);
    let r = w.deliver("tiktok/hidden").await;
    assert_eq!(
        r,
        report(1, |r| {
            r.ignored = 1;
        })
    );
}

#[tokio::test]
async fn generic_reviews_and_the_brands_own_answer() {
    let w = world();
    let r = w.deliver("generic/acme/reviews").await;
    assert_eq!(
        r,
        report(2, |r| {
            r.stored = 1;
            r.own = 1;
            r.queued = 1;
        })
    );
}

/// Every fixture's signature refused once the body changes by one byte or the secret is
/// another app's: nothing is stored from an unauthenticated request.
#[tokio::test]
async fn tampered_fixtures_store_nothing() {
    let w = world();
    for name in [
        "facebook/comments-escaped",
        "instagram/comments",
        "x/replies",
        "linkedin/notifications",
        "tiktok/comment",
        "generic/acme/reviews",
    ] {
        let (mut body, headers) = fixture(name);
        let last = body.len() - 2;
        body[last] ^= 0x01;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let err = Intake {
            brands: &w.brands,
            secrets: &w.secrets,
            store: &w.store,
            queue: &w.queue,
        }
        .receive(
            WebhookRequest {
                platform: platform_of(name),
                app: None,
                inbound: Inbound {
                    headers: &headers,
                    query: &[],
                    body: &body,
                },
            },
            w.now,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, vigie_core::intake::IntakeError::Unauthorized(_)),
            "{name}: {err}"
        );
    }
    assert_eq!(w.queue.depth().await.unwrap().0, 0);
}

#[tokio::test]
async fn google_review_pushes_are_taken_only_with_googles_token() {
    let w = world();
    let auth = |token: String| vec![("authorization".to_owned(), token)];
    for name in ["google/new-review", "google/updated-review"] {
        let (body, _) = fixture(name);
        let r = w
            .deliver_with(name, &body, auth(push_token("rsa.pem", |_| {})))
            .await
            .unwrap();
        // The notification names the review; the poll function reads it.
        assert_eq!(
            r,
            report(1, |r| {
                r.ignored = 1;
            })
        );
    }
    let (body, _) = fixture("google/new-review");
    let refused = |e: Result<IntakeReport, vigie_core::intake::IntakeError>| match e {
        Err(vigie_core::intake::IntakeError::Unauthorized(reason)) => reason.to_string(),
        other => panic!("taken: {other:?}"),
    };
    // (key file, claim changed, its new value, why refused)
    let cases = [
        (
            "rsa.pem",
            "aud",
            serde_json::json!("https://other.example"),
            "does not match",
        ),
        (
            "rsa.pem",
            "iss",
            serde_json::json!("https://evil.example"),
            "does not match",
        ),
        (
            "rsa.pem",
            "email",
            serde_json::json!("someone@else.example"),
            "does not match",
        ),
        (
            "rsa.pem",
            "exp",
            serde_json::json!(1_000_000_000),
            "expired",
        ),
        // another key under the same kid: the signature does not hold
        (
            "rsa-other.pem",
            "sub",
            serde_json::json!("1234567890"),
            "does not match",
        ),
    ];
    for (pem, claim, value, why) in cases {
        let token = push_token(pem, |c| c[claim] = value);
        let reason = refused(
            w.deliver_with("google/new-review", &body, auth(token))
                .await,
        );
        assert!(reason.contains(why), "{claim}: {reason}");
    }
    let unverified = push_token("rsa.pem", |c| c["email_verified"] = false.into());
    assert!(
        refused(
            w.deliver_with("google/new-review", &body, auth(unverified))
                .await
        )
        .contains("does not match")
    );
    let reason = refused(w.deliver_with("google/new-review", &body, vec![]).await);
    assert!(
        reason.contains("authorization header is missing"),
        "{reason}"
    );
    let reason = refused(
        w.deliver_with(
            "google/new-review",
            &body,
            auth("Basic dXNlcjpwYXNz".into()),
        )
        .await,
    );
    assert!(reason.contains("malformed"), "{reason}");
}
