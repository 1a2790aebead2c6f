//! The review API through its router: every route with every role and a foreign brand,
//! the inbox's filters, pages and counts, every action with its audit record, 409 on a
//! stale write, reports and their CSV, sessions with CSRF.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore, Triage,
};
use vigie_core::config::Brands;
use vigie_core::content::Action;
use vigie_core::drafts::{DraftState, Drafts, Suggestion};
use vigie_core::ports::{
    BrandContentStore, CommentWrite, DraftStore, Inserted, QueueReceive, Reading, ScoreError,
    SentimentScorer, UserStore,
};
use vigie_core::review::Role;
use vigie_core::time::Timestamp;
use vigie_core::understanding::{Intent, Understanding};
use vigie_core::urgency::Urgency;
use vigie_core::users::{User, UserName};
use vigie_review::auth::{Auth, AuthConfig, SessionKey, add_token, hash_password};
use vigie_review::{ReviewState, router};
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};

const HOST: &str = "review.test";
const PASSWORD: &str = "correct horse battery staple";

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]

[[brands]]
id = "globex"
name = "Globex"
facebook_page_ids = ["2002"]
"#;

struct App {
    router: axum::Router,
    store: SqliteStore,
    drafts: SqliteQueue,
    /// Bearer token per user name.
    tokens: BTreeMap<&'static str, String>,
}

fn brand(b: &str) -> BrandId {
    BrandId::parse(b).unwrap()
}

fn key(b: &str, id: &str) -> CommentKey {
    CommentKey::new(brand(b), Platform::Facebook, id).unwrap()
}

/// A triaged comment received `minutes_ago` before now.
fn triaged(b: &str, id: &str, text: &str, urgency: u8, minutes_ago: i64) -> Comment {
    let received = Timestamp::now().plus_millis(-minutes_ago * 60_000);
    Comment {
        key: key(b, id),
        thread_id: "post-1".into(),
        parent_id: None,
        source: None,
        author: Author {
            id: format!("author-{id}"),
            name: Some("Camille".into()),
            followers: None,
        },
        text: Some(CommentText::parse(text).unwrap()),
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
                label: Sentiment::Negative,
                negative: 0.8,
                neutral: 0.1,
                positive: 0.1,
                model: "test".into(),
            }),
            understanding: Some(Understanding {
                intent: Intent::DeliveryDelay,
                intent_probability: 0.8,
                signals: vec![],
                model: "heads-test".into(),
            }),
            embedding: None,
            urgency: Urgency {
                score: urgency,
                escalate: urgency >= 50,
                tier: Some("P2".into()),
                respond_within_minutes: Some(60),
                reasons: vec![],
            },
            triaged_at: received,
        }),
        escalated_version: None,
        private: false,
        revision: 0,
    }
}

fn drafts_of(c: &Comment) -> Drafts {
    Drafts {
        key: c.key.clone(),
        comment_version: c.version,
        state: DraftState::Proposed,
        action: Action::ReplyPublic,
        action_reason: "une question de livraison".into(),
        intent: Some(Intent::DeliveryDelay),
        lang: "fr".into(),
        suggestions: vec![
            Suggestion {
                text: "Bonjour Camille, votre colis arrive demain. L'équipe Acme".into(),
                engine: "grounded".into(),
                reply_ids: vec!["fr-livraison".into()],
                similarity: 0.8,
                checks: vec![],
            },
            Suggestion {
                text: "Bonjour Camille, nous regardons votre commande. L'équipe Acme".into(),
                engine: "grounded".into(),
                reply_ids: vec!["fr-suivi".into()],
                similarity: 0.7,
                checks: vec![],
            },
        ],
        rejected: vec![],
        content_version: 1,
        created_at: Timestamp::now(),
        generation: 0,
    }
}

async fn store_comment(store: &SqliteStore, c: &Comment) {
    let mut received = c.clone();
    received.state = CommentState::Received;
    received.triage = None;
    let Inserted::New(stored) = store.insert_if_new(&received).await.unwrap() else {
        panic!("new")
    };
    let mut t = c.clone();
    t.revision = stored.revision;
    store.update(&t).await.unwrap();
}

async fn app() -> App {
    app_with(None).await
}

async fn app_with(embedder: Option<Arc<dyn SentimentScorer>>) -> App {
    let db = Database::in_memory().unwrap();
    let store = db.store();
    let brands = Arc::new(Brands::parse("brands.toml".as_ref(), CONFIG).unwrap());
    let users: [(&'static str, &[(&str, Role)]); 4] = [
        ("vera", &[("acme", Role::Viewer)]),
        ("remi", &[("acme", Role::Responder)]),
        ("ada", &[("acme", Role::Admin)]),
        ("gaston", &[("globex", Role::Admin)]),
    ];
    let hash = hash_password(PASSWORD).unwrap();
    let mut tokens = BTreeMap::new();
    for (name, roles) in users {
        let mut user = User {
            name: UserName::parse(name).unwrap(),
            password_hash: hash.clone(),
            roles: roles.iter().map(|(b, r)| (brand(b), *r)).collect(),
            revision: 1,
            session_epoch: 0,
            tokens: vec![],
        };
        let token = add_token(&mut user, "tests", Timestamp::now()).unwrap();
        tokens.insert(name, token.expose().to_owned());
        store.put_user(&user, None).await.unwrap();
    }
    for (b, id, text, urgency, minutes) in [
        (
            "acme",
            "c1",
            "Où est ma commande ? Dix jours d'attente.",
            70,
            90,
        ),
        (
            "acme",
            "c2",
            "Toujours rien reçu, je veux un remboursement.",
            70,
            30,
        ),
        ("acme", "c3", "Bonjour, vous livrez en Belgique ?", 20, 5),
        ("globex", "g1", "Mon colis Globex est perdu.", 90, 10),
    ] {
        let c = triaged(b, id, text, urgency, minutes);
        store_comment(&store, &c).await;
        store.put_drafts(&drafts_of(&c)).await.unwrap();
    }
    let config = AuthConfig {
        allowed_hosts: vec![HOST.into()],
        ..AuthConfig::new(SessionKey::generate())
    };
    let auth = Auth::new(Arc::new(store.clone()), config).unwrap();
    let drafts = db.queue("drafts", 5);
    let router = router(Arc::new(ReviewState {
        brands,
        store: store.clone(),
        auth,
        drafts: Some(Arc::new(drafts.clone())),
        embedder,
        speller: None,
    }));
    App {
        router,
        store,
        drafts,
        tokens,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    /// Fails with the body when the status is not `status`.
    fn expect(&self, status: StatusCode) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "{} body is not JSON: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl App {
    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn request(
        &self,
        user: Option<&str>,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> Request<Body> {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", HOST);
        if let Some(u) = user {
            r = r.header("authorization", format!("Bearer {}", self.tokens[u]));
        }
        match body {
            Some(b) => r
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => r.body(Body::empty()).unwrap(),
        }
    }

    async fn get(&self, user: &str, uri: &str) -> Answer {
        self.send(self.request(Some(user), "GET", uri, None)).await
    }

    async fn act(&self, user: &str, id: &str, revision: u64, command: Value) -> Answer {
        let mut body = command;
        body["revision"] = revision.into();
        self.send(self.request(
            Some(user),
            "POST",
            &format!("/api/brands/acme/comments/facebook/{id}/actions"),
            Some(body),
        ))
        .await
    }

    async fn revision(&self, user: &str, id: &str) -> u64 {
        let a = self
            .get(user, &format!("/api/brands/acme/comments/facebook/{id}"))
            .await;
        a.expect(StatusCode::OK);
        a.json()["review"]["revision"].as_u64().unwrap()
    }
}

/// Every route, with no credential, each role, a user of another brand, and a brand or
/// comment that does not exist: the role decides, and a brand not one's own answers
/// exactly as one that does not exist.
#[tokio::test]
async fn every_route_with_every_role_and_a_foreign_brand() {
    let app = app().await;
    let routes = |b: &str| {
        vec![
            ("GET", format!("/api/brands/{b}/comments"), None),
            (
                "GET",
                format!("/api/brands/{b}/comments?status=hidden,new&platform=facebook"),
                None,
            ),
            ("GET", format!("/api/brands/{b}/comments/facebook/c1"), None),
            (
                "POST",
                format!("/api/brands/{b}/comments/facebook/c1/actions"),
                // a stale revision: refused for every role, so the walk changes nothing
                Some(json!({"revision": 999, "command": "claim"})),
            ),
            ("GET", format!("/api/brands/{b}/reports"), None),
            ("GET", format!("/api/brands/{b}/reports.csv"), None),
            ("GET", format!("/api/brands/{b}/content"), None),
            (
                "POST",
                format!("/api/brands/{b}/comments/facebook/c1/checks"),
                Some(json!({"text": "Bonjour, nous regardons cela."})),
            ),
            (
                "PUT",
                format!("/api/brands/{b}/content"),
                // files an import refuses: 422 for an admin, so the walk stores nothing
                Some(json!({"expected_version": null, "files": {
                    "voice": "", "replies": "", "facts": "", "words": "", "products": ""}})),
            ),
        ]
    };
    let unauthenticated = app
        .send(app.request(None, "GET", "/api/brands/acme/comments", None))
        .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    let not_found = app.get("gaston", "/api/brands/nosuch/comments").await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);

    for b in ["acme", "globex", "nosuch"] {
        for (method, uri, body) in routes(b) {
            // no credential: 401, the same bytes whether the brand exists or not
            let a = app
                .send(app.request(None, method, &uri, body.clone()))
                .await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
            assert_eq!(a.body, unauthenticated.body, "{method} {uri}");
            for (user, own) in [
                ("vera", "acme"),
                ("remi", "acme"),
                ("ada", "acme"),
                ("gaston", "globex"),
            ] {
                let a = app
                    .send(app.request(Some(user), method, &uri, body.clone()))
                    .await;
                let what = format!(
                    "{user} {method} {uri}: {}",
                    String::from_utf8_lossy(&a.body)
                );
                if b != own || (uri.contains("/comments/facebook/c1") && b == "globex") {
                    // another brand's, none, or (c1 is acme's) no comment of this brand:
                    // 404 with the body of a missing brand
                    assert_eq!(a.status, StatusCode::NOT_FOUND, "{what}");
                    assert_eq!(a.body, not_found.body, "{what}");
                } else if method == "POST" && uri.ends_with("/actions") {
                    let want = if user == "vera" {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::CONFLICT
                    };
                    assert_eq!(a.status, want, "{what}");
                } else if method == "PUT" {
                    let want = if matches!(user, "vera" | "remi") {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    assert_eq!(a.status, want, "{what}");
                } else {
                    assert_eq!(a.status, StatusCode::OK, "{what}");
                }
            }
        }
    }
    // an acme comment asked for by its id under the user's own brand: 404, same body
    let a = app
        .get("gaston", "/api/brands/globex/comments/facebook/c1")
        .await;
    assert_eq!(
        (a.status, &a.body),
        (StatusCode::NOT_FOUND, &not_found.body)
    );
    let a = app
        .get("ada", "/api/brands/acme/comments/facebook/g1")
        .await;
    assert_eq!(
        (a.status, &a.body),
        (StatusCode::NOT_FOUND, &not_found.body)
    );
    let a = app.get("ada", "/api/brands/acme/comments/myspace/c1").await;
    assert_eq!(
        (a.status, &a.body),
        (StatusCode::NOT_FOUND, &not_found.body)
    );
    // and nothing in the walk changed a review
    assert!(
        app.get("ada", "/api/brands/acme/comments/facebook/c1")
            .await
            .json()["audit"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_inbox_lists_most_urgent_then_oldest_with_filters_pages_and_counts() {
    let app = app().await;
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["comment"]["key"]["external_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let all = app.get("vera", "/api/brands/acme/comments").await.json();
    assert_eq!(
        ids(&all),
        ["c1", "c2", "c3"],
        "c1 and c2 equally urgent, c1 older"
    );
    assert_eq!(all["counts"]["matching"], 3);
    assert_eq!(
        all["counts"]["sla_breached"]["true"], 1,
        "c1 waited 90 min of 60"
    );
    assert_eq!(all["items"][0]["sla_breached"], true);
    assert_eq!(all["items"][1]["sla_breached"], false);
    assert!(all["next"].is_null());
    assert!(!all.to_string().contains("embedding"));

    // pages of one, following the cursor
    let mut seen = vec![];
    let mut uri = "/api/brands/acme/comments?limit=1".to_owned();
    loop {
        let page = app.get("vera", &uri).await.json();
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(c) => uri = format!("/api/brands/acme/comments?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["c1", "c2", "c3"]);

    let breached = app
        .get("vera", "/api/brands/acme/comments?sla_breached=true")
        .await
        .json();
    assert_eq!(ids(&breached), ["c1"]);
    // a claim shows as the assignee, and filters
    let rev = app.revision("remi", "c2").await;
    assert_eq!(
        app.act("remi", "c2", rev, json!({"command": "claim"}))
            .await
            .status,
        StatusCode::OK
    );
    let mine = app
        .get("vera", "/api/brands/acme/comments?assignee=remi")
        .await
        .json();
    assert_eq!(ids(&mine), ["c2"]);
    assert_eq!(mine["items"][0]["assignee"], "remi");
    let nobody = app
        .get("vera", "/api/brands/acme/comments?assignee=none")
        .await
        .json();
    assert_eq!(ids(&nobody), ["c1", "c3"]);
    assert_eq!(
        nobody["counts"]["assignee"]["remi"], 1,
        "other assignees still counted"
    );

    for bad in [
        "platform=myspace",
        "sentiment=angry",
        "intent=nope",
        "status=done",
        "limit=0",
        "limit=201",
        "cursor=!!",
        "sla_breached=maybe",
    ] {
        let a = app
            .get("vera", &format!("/api/brands/acme/comments?{bad}"))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(a.json()["error"], "bad_request", "{bad}");
    }
}

#[tokio::test]
async fn actions_follow_the_review_and_leave_an_audit_trail() {
    let app = app().await;
    let detail = app
        .get("remi", "/api/brands/acme/comments/facebook/c1")
        .await
        .json();
    assert_eq!(detail["review"]["status"], "new");
    assert_eq!(detail["drafts"]["suggestions"].as_array().unwrap().len(), 2);
    assert_eq!(
        detail["thread"].as_array().unwrap().len(),
        3,
        "acme's comments share the post"
    );
    assert_eq!(
        detail["triage"]["urgency"]["score"], 70,
        "scores and reasons shown"
    );
    let r0 = detail["review"]["revision"].as_u64().unwrap();

    // remi claims; ada, an admin, loads the same revision; remi approves an edit first
    let claimed = app.act("remi", "c1", r0, json!({"command": "claim"})).await;
    assert_eq!(claimed.status, StatusCode::OK);
    let r1 = claimed.json()["revision"].as_u64().unwrap();
    assert_eq!(r1, r0 + 1);
    let edited = app
        .act(
            "remi",
            "c1",
            r1,
            json!({"command": "edit_and_approve", "index": 0, "text": "Bonjour Camille, votre colis part aujourd'hui. L'équipe Acme"}),
        )
        .await;
    edited.expect(StatusCode::OK);
    let after_edit = edited.json();
    assert_eq!(after_edit["suggestions"][0]["status"], "approved");
    assert_eq!(after_edit["suggestions"][0]["edited"], true);

    // a second manager deciding on the revision they loaded gets 409 and the review now
    let late = app
        .act("ada", "c1", r1, json!({"command": "approve", "index": 1}))
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    let body = late.json();
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["current"]["revision"], after_edit["revision"]);
    assert_eq!(body["current"]["suggestions"][0]["status"], "approved");

    // someone else's live claim holds for a responder, not against the holder
    let r2 = after_edit["revision"].as_u64().unwrap();
    let other = triaged("acme", "c9", "Allô ?", 10, 1);
    store_comment(&app.store, &other).await;
    let held = app.act("remi", "c9", 0, json!({"command": "claim"})).await;
    assert_eq!(held.status, StatusCode::OK);
    let mut claim_attempt = app.act("ada", "c9", 1, json!({"command": "hide"})).await;
    assert_eq!(claim_attempt.status, StatusCode::CONFLICT);
    assert_eq!(claim_attempt.json()["error"], "claimed_by_other");
    claim_attempt = app.act("ada", "c9", 1, json!({"command": "claim"})).await;
    assert_eq!(claim_attempt.status, StatusCode::OK, "an admin takes over");

    // invalid moves: 422, nothing written
    let invalid = app
        .act(
            "remi",
            "c1",
            r2,
            json!({"command": "reject", "index": 7, "reason": "x"}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.json()["error"], "invalid");
    let unreadable = app
        .act("remi", "c1", r2, json!({"command": "publish"}))
        .await;
    assert_eq!(unreadable.status, StatusCode::BAD_REQUEST);

    // sent, with the platform's reply id: the comment leaves the open inbox
    let sent = app
        .act(
            "remi",
            "c1",
            r2,
            json!({"command": "mark_sent", "platform_reply_id": "1001_5_99"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    let sent = sent.json();
    assert_eq!(sent["status"], "replied");
    assert_eq!(sent["sent"]["platform_reply_id"], "1001_5_99");
    assert_eq!(sent["sent"]["ai_edited"], true);
    let open = app.get("remi", "/api/brands/acme/comments").await.json();
    assert!(
        open["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["comment"]["key"]["external_id"] != "c1")
    );

    // the audit trail: who, what, the text before and after, edited or not, engine, content
    let audit = app
        .get("vera", "/api/brands/acme/comments/facebook/c1")
        .await
        .json()["audit"]
        .clone();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["claim", "edit_and_approve", "mark_sent"]);
    let edit = &audit[1];
    assert_eq!(edit["by"], "remi");
    assert_eq!(edit["role"], "responder");
    assert_eq!(
        edit["text_before"],
        "Bonjour Camille, votre colis arrive demain. L'équipe Acme"
    );
    assert_eq!(
        edit["text_after"],
        "Bonjour Camille, votre colis part aujourd'hui. L'équipe Acme"
    );
    assert_eq!(edit["ai_edited"], true);
    assert_eq!(edit["engine"], "grounded");
    assert_eq!(edit["content_version"], 1);
    // closed: nothing applies any more
    let closed = app
        .act(
            "ada",
            "c1",
            sent["revision"].as_u64().unwrap(),
            json!({"command": "hide"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::UNPROCESSABLE_ENTITY);

    // hide, ignore, escalate set a comment aside (findable by status); a reject keeps a reason
    for (id, command, status) in [("c2", "hide", "hidden"), ("c3", "escalate", "escalated")] {
        let rev = app.revision("remi", id).await;
        let a = app.act("remi", id, rev, json!({"command": command})).await;
        assert_eq!(a.status, StatusCode::OK, "{command}");
        assert_eq!(a.json()["status"], status);
    }
    let set_aside = app
        .get("vera", "/api/brands/acme/comments?status=hidden,escalated")
        .await
        .json();
    assert_eq!(set_aside["items"].as_array().unwrap().len(), 2);
    let rev = app.revision("remi", "c3").await;
    let rejected = app
        .act(
            "remi",
            "c3",
            rev,
            json!({"command": "reject", "index": 1, "reason": "trop vague"}),
        )
        .await
        .json();
    assert_eq!(rejected["suggestions"][1]["status"], "rejected");
    assert_eq!(rejected["suggestions"][1]["reject_reason"], "trop vague");
}

#[tokio::test]
async fn regenerate_asks_the_drafter_again() {
    let app = app().await;
    let rev = app.revision("remi", "c3").await;
    let a = app
        .act("remi", "c3", rev, json!({"command": "regenerate"}))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let review = a.json();
    assert_eq!(review["status"], "new");
    assert!(
        review["suggestions"].as_array().unwrap().is_empty(),
        "waiting for new drafts"
    );
    let requests = app.drafts.receive(10, 30).await.unwrap();
    assert_eq!(requests.len(), 1);
    let request: Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(request["key"]["external_id"], "c3");
    assert_eq!(request["regenerate"], true);
    // until they come, the old drafts are not offered again
    let detail = app
        .get("remi", "/api/brands/acme/comments/facebook/c3")
        .await
        .json();
    assert!(
        detail["review"]["suggestions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // the next generation joins the review
    let c3 = triaged("acme", "c3", "Bonjour, vous livrez en Belgique ?", 20, 5);
    let mut next = drafts_of(&c3);
    next.generation = 1;
    app.store.put_drafts(&next).await.unwrap();
    let detail = app
        .get("remi", "/api/brands/acme/comments/facebook/c3")
        .await
        .json();
    assert_eq!(detail["review"]["suggestions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reports_and_their_csv() {
    let app = app().await;
    // yesterday too: the comments were received up to 90 minutes ago
    let now = Timestamp::now();
    let today = vigie_core::reports::Day::of(now, 0).to_string();
    let yesterday = vigie_core::reports::Day::of(now.plus_millis(-86_400_000), 0).to_string();
    let period = format!("from={yesterday}&to={today}");
    let report = app
        .get("vera", &format!("/api/brands/acme/reports?{period}"))
        .await;
    report.expect(StatusCode::OK);
    let report = report.json();
    assert_eq!(report["totals"]["volume"], 3, "acme's only");
    assert_eq!(report["days"].as_array().unwrap().len(), 2);
    let csv = app
        .get("vera", &format!("/api/brands/acme/reports.csv?{period}"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = String::from_utf8(csv.body).unwrap();
    assert!(text.starts_with("day,"), "{text}");
    assert_eq!(
        text.lines().count(),
        3,
        "a header and a row per day: {text}"
    );
    for bad in [
        "from=2026-13-01",
        "from=2026-01-02&to=2026-01-01",
        "from=2020-01-01&to=2026-01-01",
        "utc_offset=9999",
    ] {
        let a = app
            .get("vera", &format!("/api/brands/acme/reports?{bad}"))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn a_session_signs_in_and_needs_its_csrf_token_to_change_anything() {
    let app = app().await;
    let sign_in = app
        .send(app.request(
            None,
            "POST",
            "/api/session",
            Some(json!({"user": "remi", "password": PASSWORD})),
        ))
        .await;
    assert_eq!(sign_in.status, StatusCode::OK);
    let cookie = sign_in.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = sign_in.json()["csrf"].as_str().unwrap().to_owned();
    let with_cookie = |method: &str, uri: &str, body: Option<Value>, csrf: Option<&str>| {
        let mut r = app.request(None, method, uri, body);
        r.headers_mut().insert("cookie", cookie.parse().unwrap());
        if let Some(c) = csrf {
            r.headers_mut().insert("x-csrf-token", c.parse().unwrap());
        }
        r
    };
    let listed = app
        .send(with_cookie("GET", "/api/brands/acme/comments", None, None))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let claim = json!({"revision": 0, "command": "claim"});
    let uri = "/api/brands/acme/comments/facebook/c3/actions";
    let refused = app
        .send(with_cookie("POST", uri, Some(claim.clone()), None))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "csrf");
    let wrong = app
        .send(with_cookie("POST", uri, Some(claim.clone()), Some("nope")))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let done = app
        .send(with_cookie("POST", uri, Some(claim), Some(&csrf)))
        .await;
    done.expect(StatusCode::OK);
    // an unexpected Host is refused before anything else
    let mut rebinding = app.request(Some("remi"), "GET", "/api/brands/acme/comments", None);
    rebinding
        .headers_mut()
        .insert("host", "evil.example:8080".parse().unwrap());
    assert_eq!(
        app.send(rebinding).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
}

/// The sample brand's files, as `vigie brand import` reads them.
fn acme_files() -> vigie_core::content::ContentFiles {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/brands/acme");
    vigie_core::content::ContentFiles::read_dir(&dir).unwrap()
}

fn files_json(f: &vigie_core::content::ContentFiles) -> Value {
    serde_json::to_value(f).unwrap()
}

impl App {
    async fn put_content(&self, user: &str, expected: Option<u32>, files: Value) -> Answer {
        self.send(self.request(
            Some(user),
            "PUT",
            "/api/brands/acme/content",
            Some(json!({"expected_version": expected, "files": files})),
        ))
        .await
    }
}

#[tokio::test]
async fn admins_edit_brand_content_in_versions_validated_as_an_import() {
    let app = app().await;
    let none = app.get("vera", "/api/brands/acme/content").await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["version"], Value::Null);
    assert_eq!(none.json()["files"]["voice"], "");

    let files = acme_files();
    // only admins store
    for user in ["vera", "remi"] {
        let a = app.put_content(user, None, files_json(&files)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{user}");
        assert_eq!(a.json()["error"], "forbidden");
    }
    let first = app.put_content("ada", None, files_json(&files)).await;
    first.expect(StatusCode::OK);
    assert_eq!(first.json()["version"], 1);
    assert_eq!(first.json()["updated_by"], "ada");
    let stored = app.store.content(&brand("acme")).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.updated_by, "ada");
    let expected = vigie_core::content::BrandContent::from_files(
        &brand("acme"),
        &files,
        stored.updated_at,
        "ada",
    )
    .unwrap();
    assert_eq!(
        stored.replies, expected.replies,
        "the same content an import stores"
    );
    assert_eq!(stored.voice, expected.voice);

    // an edit started from an older version is refused, with the current one
    let stale = app.put_content("ada", None, files_json(&files)).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.json()["current_version"], 1);

    // what an import refuses is refused, naming the file, line and field
    let mut broken = files.clone();
    broken.voice = broken
        .voice
        .replace("brand = \"acme\"", "brand = \"globex\"");
    let a = app.put_content("ada", Some(1), files_json(&broken)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["error"], "invalid_content");
    assert_eq!(a.json()["file"], "voice.toml");
    assert_eq!(a.json()["field"], "brand");
    let mut broken = files.clone();
    broken.replies.push_str("\n[[replies]]\nid = \"x\"\nlang = \"fr\"\nintents = [\"praise\"]\naction = \"reply_public\"\ntext = \"{fact:nosuch}\"\n");
    let a = app.put_content("ada", Some(1), files_json(&broken)).await;
    a.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["file"], "replies.toml");
    let a = app
        .put_content("ada", Some(1), json!({"voice": "", "extra": ""}))
        .await;
    assert_eq!(
        a.status,
        StatusCode::BAD_REQUEST,
        "an unknown file is refused"
    );
    assert_eq!(
        app.store
            .content(&brand("acme"))
            .await
            .unwrap()
            .unwrap()
            .version,
        1,
        "nothing stored by a refused edit"
    );

    // replies keep their embeddings unless their text changed
    let mut embedded = stored.clone();
    for (i, r) in embedded.replies.iter_mut().enumerate() {
        let mut v = vec![0.0f32; 8];
        v[i % 8] = 1.0;
        r.embedding = Some(vigie_core::understanding::Embedding::quantize(&v));
    }
    embedded.embedding_model = Some("model-a".into());
    assert_eq!(app.store.put_content(&embedded, Some(1)).await.unwrap(), 2);
    let current = app.get("vera", "/api/brands/acme/content").await.json();
    assert_eq!(current["version"], 2);
    assert_eq!(current["replies_without_embedding"], 0);
    let mut changed = embedded.clone();
    changed.replies[0]
        .text
        .push_str(" Merci de votre patience.");
    let edited = changed.to_files();
    let a = app
        .put_content("ada", Some(2), serde_json::to_value(&edited).unwrap())
        .await;
    a.expect(StatusCode::OK);
    assert_eq!(a.json()["version"], 3);
    assert_eq!(a.json()["replies_without_embedding"], 1);
    let v3 = app.store.content(&brand("acme")).await.unwrap().unwrap();
    assert_eq!(v3.embedding_model.as_deref(), Some("model-a"));
    assert!(v3.replies[0].embedding.is_none(), "its text changed");
    assert_eq!(
        v3.replies[1..],
        embedded.replies[1..],
        "the others are as they were"
    );

    // every version stays readable; one that never was is 404
    let v1 = app
        .get("vera", "/api/brands/acme/content?version=1")
        .await
        .json();
    assert_eq!(
        (v1["version"].as_u64(), v1["latest"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(v1["files"], files_json(&stored.to_files()));
    let missing = app.get("vera", "/api/brands/acme/content?version=9").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// Embeds every text as the same vector, as the model that read the comments would.
struct FixedEmbedder;

#[async_trait::async_trait]
impl SentimentScorer for FixedEmbedder {
    async fn score(&self, texts: &[String]) -> Result<Vec<Reading>, ScoreError> {
        Ok(texts
            .iter()
            .map(|_| Reading {
                sentiment: SentimentScore {
                    label: Sentiment::Neutral,
                    negative: 0.1,
                    neutral: 0.8,
                    positive: 0.1,
                    model: "model-b".into(),
                },
                understanding: None,
                embedding: Some(vigie_core::understanding::Embedding::quantize(&[1.0, 0.0])),
            })
            .collect())
    }
}

#[tokio::test]
async fn with_the_model_at_hand_edited_replies_are_embedded_when_stored() {
    let app = app_with(Some(Arc::new(FixedEmbedder))).await;
    let a = app
        .put_content("ada", None, files_json(&acme_files()))
        .await;
    a.expect(StatusCode::OK);
    assert_eq!(a.json()["replies_without_embedding"], 0);
    let stored = app.store.content(&brand("acme")).await.unwrap().unwrap();
    assert_eq!(stored.embedding_model.as_deref(), Some("model-b"));
    assert!(stored.replies.iter().all(|r| r.embedding.is_some()));
}

impl App {
    /// A form posted to a page, as a browser sends it (bearer token instead of a session).
    async fn post_form(&self, user: &str, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = Request::builder()
            .method("POST")
            .uri(uri)
            .header("host", HOST)
            .header("authorization", format!("Bearer {}", self.tokens[user]))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(r).await
    }
}

#[tokio::test]
async fn the_content_editor_page_stores_a_form_and_sends_back_what_it_refuses() {
    let app = app().await;
    let page = |a: &Answer| String::from_utf8_lossy(&a.body).into_owned();
    let editor = app.get("ada", "/brands/acme/content").await;
    assert_eq!(editor.status, StatusCode::OK);
    let html = page(&editor);
    assert!(
        html.contains("<textarea id=\"file-voice\" name=\"voice\""),
        "{html}"
    );
    assert!(html.contains("id=\"store-content\""));
    assert!(!html.contains(" readonly"));
    let viewer = page(&app.get("vera", "/brands/acme/content").await);
    assert!(viewer.contains(" readonly") && !viewer.contains("id=\"store-content\""));

    let files = acme_files();
    let fields = |f: &vigie_core::content::ContentFiles, expected: &'static str| {
        vec![
            ("voice", f.voice.clone()),
            ("replies", f.replies.clone()),
            ("facts", f.facts.clone()),
            ("words", f.words.clone()),
            ("products", f.products.clone()),
            ("expected_version", expected.to_owned()),
        ]
    };
    let send = |user: &'static str, f: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(user, "/brands/acme/content", &pairs).await
        }
    };
    let refused = send("remi", fields(&files, "")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // the comment page's length limit: the platform's until the brand says otherwise
    assert_eq!(reply_limit(&app).await, Some(8000));

    let stored = send("ada", fields(&files, "")).await;
    assert_eq!(stored.status, StatusCode::SEE_OTHER, "{}", page(&stored));
    assert_eq!(stored.headers["location"], "/brands/acme/content?stored=1");
    let after = page(&app.get("ada", "/brands/acme/content?stored=1").await);
    assert!(after.contains("Stored as version 1."), "{after}");
    assert!(after.contains("Save as version 2"));

    let mut broken = files.clone();
    broken.voice = broken.voice.replace("emoji_max = 0", "emoji_max = -1");
    let a = send("ada", fields(&broken, "1")).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page(&a);
    assert!(html.contains("voice.toml"), "{html}");
    let tag = |id: &str| {
        let at = html.find(&format!("<textarea id=\"file-{id}\"")).unwrap();
        html[at..at + html[at..].find('>').unwrap()].to_owned()
    };
    assert!(
        tag("voice").contains("aria-invalid=\"true\""),
        "{}",
        tag("voice")
    );
    assert!(
        !tag("replies").contains("aria-invalid"),
        "{}",
        tag("replies")
    );
    assert!(
        html.contains("emoji_max = -1"),
        "the edit comes back to fix"
    );
    let stale = send("ada", fields(&files, "")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(page(&stale).contains("someone stored another version"));

    // a brand's own reply length reaches the comment page
    let mut shorter = files.clone();
    shorter.voice = shorter
        .voice
        .replace("[reply_length]\n", "[reply_length]\nfacebook = 600\n");
    assert_eq!(
        send("ada", fields(&shorter, "1")).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(reply_limit(&app).await, Some(600));
    let comment = page(&app.get("remi", "/brands/acme/comments/facebook/c1").await);
    assert!(comment.contains("data-limit=\"600\""), "{comment}");
}

async fn reply_limit(app: &App) -> Option<u64> {
    app.get("remi", "/api/brands/acme/comments/facebook/c1")
        .await
        .json()["reply_limit"]
        .as_u64()
}

#[tokio::test]
async fn a_reply_text_is_checked_as_drafting_checks_it() {
    let app = app().await;
    let check = |text: &str| {
        let app = &app;
        let body = json!({"text": text});
        async move {
            let a = app
                .send(app.request(
                    Some("remi"),
                    "POST",
                    "/api/brands/acme/comments/facebook/c1/checks",
                    Some(body),
                ))
                .await;
            a.expect(StatusCode::OK);
            a.json()
        }
    };
    let none = check("Bonjour").await;
    assert_eq!(
        none["content_version"],
        Value::Null,
        "no content: nothing to check"
    );
    assert_eq!(none["checks"], json!([]));
    app.put_content("ada", None, files_json(&acme_files()))
        .await
        .expect(StatusCode::OK);
    let answer =
        check("Bonjour Camille,\n\nMalheureusement, écris-nous en privé.\n\nL'équipe Acme Mode")
            .await;
    assert_eq!(answer["content_version"], 1);
    assert_eq!(answer["spelling_checked"], false);
    let failed: Vec<&str> = answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"formality"), "{answer}");
    assert!(failed.iter().any(|c| c.contains("banned")), "{answer}");
    assert!(
        !answer["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "spelling"),
        "no dictionary here: spelling left out, not failed"
    );
    let long = "a".repeat(vigie_review::service::MAX_CHECKED_TEXT + 1);
    let a = app
        .send(app.request(
            Some("remi"),
            "POST",
            "/api/brands/acme/comments/facebook/c1/checks",
            Some(json!({"text": long})),
        ))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // the page's fragment, as htmx asks for it while the manager types
    let page = app
        .post_form(
            "remi",
            "/brands/acme/comments/facebook/c1/checks",
            &[("text", "Bonjour, écris-nous.")],
        )
        .await;
    page.expect(StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("Check failed: formality"), "{html}");
    assert!(
        html.contains("Spelling is checked when vigie drafts"),
        "{html}"
    );
}
