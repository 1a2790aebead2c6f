//! The managers' page in a real headless Chromium driven through WebDriver: sign in, the
//! inbox, a comment edited and approved, a stale page answered with the conflict message,
//! the keyboard shortcuts, a filter swapped in by htmx, the reports chart, French, another
//! brand's 404, the brand content editor (read-only for a responder, saved by an admin);
//! axe-core (WCAG 2 A and AA) on every kind of page; a screenshot of each step in
//! `target/browser-artifacts/`.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` (scripts/setup-system) and axe-core
//! (scripts/setup-browser); skipped with a notice without them, failed when
//! `VIGIE_REQUIRE_BROWSER=1`.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore, Triage,
};
use vigie_core::config::Brands;
use vigie_core::content::Action;
use vigie_core::drafts::{CheckOutcome, DraftState, Drafts, Suggestion};
use vigie_core::ports::{BrandContentStore, CommentWrite, DraftStore, Inserted, UserStore};
use vigie_core::review::{Actor, Command, Role};
use vigie_core::time::Timestamp;
use vigie_core::understanding::{Intent, Understanding};
use vigie_core::urgency::Urgency;
use vigie_core::users::{User, UserName};
use vigie_review::auth::{Auth, AuthConfig, SessionKey, hash_password};
use vigie_review::{ReviewState, router, service};
use vigie_sqlite::{Database, SqliteStore};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
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

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn axe_path() -> PathBuf {
    workspace().join("tests/browser/node_modules/axe-core/axe.min.js")
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the browser and axe are there; panics when they must be.
fn tools_present() -> bool {
    let missing: Vec<String> = [
        PathBuf::from(CHROMIUM),
        PathBuf::from(CHROMEDRIVER),
        axe_path(),
    ]
    .into_iter()
    .filter(|p| !p.exists())
    .map(|p| p.display().to_string())
    .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "browser tests need {} (scripts/setup-system, scripts/setup-browser)",
        missing.join(", ")
    );
    if std::env::var("VIGIE_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    false
}

fn brand(b: &str) -> BrandId {
    BrandId::parse(b).unwrap()
}

fn key(b: &str, id: &str) -> CommentKey {
    CommentKey::new(brand(b), Platform::Facebook, id).unwrap()
}

fn triaged(b: &str, id: &str, text: &str, urgency: u8, minutes_ago: i64) -> Comment {
    let received = Timestamp::now().plus_millis(-minutes_ago * 60_000);
    Comment {
        key: key(b, id),
        thread_id: "post-1".into(),
        parent_id: None,
        source: None,
        author: Author {
            id: format!("author-{id}"),
            name: Some(format!("Camille {id}")),
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
    let suggestion = |text: &str, checks: Vec<CheckOutcome>| Suggestion {
        text: text.into(),
        engine: "grounded".into(),
        reply_ids: vec!["fr-livraison".into()],
        similarity: 0.8,
        checks,
    };
    Drafts {
        key: c.key.clone(),
        comment_version: c.version,
        state: DraftState::Proposed,
        action: Action::ReplyPublic,
        action_reason: "une question de livraison".into(),
        intent: Some(Intent::DeliveryDelay),
        lang: "fr".into(),
        suggestions: vec![
            suggestion(
                "Bonjour Camille, votre colis arrive demain. L'équipe Acme",
                vec![],
            ),
            suggestion(
                "Bonjour Camille, nous regardons votre commande. L'équipe Acme",
                vec![CheckOutcome {
                    check: "spelling".into(),
                    passed: false,
                    detail: "unknown word: commande".into(),
                }],
            ),
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

/// The review router over a seeded SQLite store, served on 127.0.0.1.
async fn serve() -> (SocketAddr, SqliteStore) {
    let db = Database::in_memory().unwrap();
    let store = db.store();
    let brands = Arc::new(Brands::parse("brands.toml".as_ref(), CONFIG).unwrap());
    let hash = hash_password(PASSWORD).unwrap();
    for (name, b, role) in [
        ("remi", "acme", Role::Responder),
        ("ada", "acme", Role::Admin),
        ("gaston", "globex", Role::Admin),
    ] {
        let user = User {
            name: UserName::parse(name).unwrap(),
            password_hash: hash.clone(),
            roles: [(brand(b), role)].into_iter().collect(),
            revision: 1,
            session_epoch: 0,
            tokens: vec![],
        };
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
        let mut c = triaged(b, id, text, urgency, minutes);
        // a question sent as a private message
        c.private = id == "c3";
        store_comment(&store, &c).await;
        store.put_drafts(&drafts_of(&c)).await.unwrap();
    }
    // the sample brand's content, as `vigie brand import` stores it
    let dir = workspace().join("samples/brands/acme");
    let files = vigie_core::content::ContentFiles::read_dir(&dir).unwrap();
    let content = vigie_core::content::BrandContent::from_files(
        &brand("acme"),
        &files,
        Timestamp::now(),
        "import",
    )
    .unwrap();
    store.put_content(&content, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = AuthConfig {
        allowed_hosts: vec![addr.to_string()],
        ..AuthConfig::new(SessionKey::generate())
    };
    let auth = Auth::new(Arc::new(store.clone()), config).unwrap();
    let app = router(Arc::new(ReviewState {
        brands,
        store: store.clone(),
        auth,
        drafts: None,
        embedder: None,
        speller: None,
    }));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (addr, store)
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Process::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1024", "--lang=en-GB",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut last = None;
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no WebDriver session: {last:?}");
}

struct Steps {
    client: Client,
    base: String,
    dir: PathBuf,
    n: usize,
    axe: String,
}

impl Steps {
    async fn shot(&mut self, name: &str) {
        self.n += 1;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.n)), png).unwrap();
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn click(&self, what: Locator<'_>) {
        self.client.find(what).await.unwrap().click().await.unwrap();
    }

    /// Presses `key` on the page, as a person would with the focus on no field.
    async fn press(&self, key: &str) {
        self.client
            .execute("document.getElementById('main').focus()", vec![])
            .await
            .unwrap();
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(key).await.unwrap();
    }

    /// The focused element's `attr`.
    async fn focused(&self, attr: &str) -> Option<String> {
        self.client
            .active_element()
            .await
            .unwrap()
            .attr(attr)
            .await
            .unwrap()
    }

    /// Waits (up to 5 s) for the page to show `n` inbox rows.
    async fn rows(&self, n: usize) {
        for _ in 0..50 {
            let rows = self
                .client
                .find_all(Locator::Css(".row-link"))
                .await
                .unwrap();
            if rows.len() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the inbox never showed {n} rows: {}", self.body().await);
    }

    async fn sign_in(&self, user: &str) {
        let field = self.client.find(Locator::Id("user")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(user).await.unwrap();
        let password = self.client.find(Locator::Id("password")).await.unwrap();
        password.send_keys(PASSWORD).await.unwrap();
        self.click(Locator::Id("sign-in-submit")).await;
    }

    /// Waits (up to 5 s) for the browser to be at `path`: a click that submits a form
    /// or follows a link returns before the next page is there.
    async fn at(&self, path: &str) {
        let mut last = String::new();
        for _ in 0..50 {
            last = self.path().await;
            if last == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the browser stayed at {last}, not {path}");
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// The page's text; read again when the page changes under the read (a navigation
    /// in flight).
    async fn body(&self) -> String {
        let mut last = None;
        for _ in 0..50 {
            match self.client.find(Locator::Css("body")).await {
                Ok(body) => match body.text().await {
                    Ok(t) => return t,
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page's text cannot be read: {last:?}");
    }

    /// Waits (up to 5 s) for the page to say `text`: a key press that submits a form
    /// leaves the old page for a moment.
    async fn says(&self, text: &str) -> String {
        let mut last = String::new();
        for _ in 0..50 {
            if let Ok(body) = self.client.find(Locator::Css("body")).await
                && let Ok(t) = body.text().await
            {
                if t.contains(text) {
                    return t;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never said {text:?}: {last}");
    }

    /// axe-core's WCAG 2 A and AA rules on the page: no violation.
    async fn accessible(&self, page: &str) {
        self.client.execute(&self.axe, vec![]).await.unwrap();
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } })
              .then(r => done(r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary) }))))
              .catch(e => done([{ id: 'axe-error', help: String(e) }]));
        "#;
        let violations = self.client.execute_async(script, vec![]).await.unwrap();
        let list = violations.as_array().cloned().unwrap_or_default();
        assert!(
            list.is_empty(),
            "accessibility violations on the {page} page:\n{}",
            serde_json::to_string_pretty(&Value::Array(list)).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_works_through_the_page_in_chromium() {
    if !tools_present() {
        return;
    }
    let (addr, store) = serve().await;
    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let mut s = Steps {
        client: client.clone(),
        base: format!("http://{addr}"),
        dir: artifacts(),
        n: 0,
        axe: std::fs::read_to_string(axe_path()).unwrap(),
    };
    let outcome = tokio::spawn(async move {
        // not signed in: any page sends to the sign-in page
        s.goto("/brands/acme/inbox").await;
        s.at("/sign-in").await;
        s.shot("sign-in").await;
        s.accessible("sign-in").await;

        // a wrong password shows the error
        let user = s.client.find(Locator::Id("user")).await.unwrap();
        user.send_keys("remi").await.unwrap();
        let password = s.client.find(Locator::Id("password")).await.unwrap();
        password.send_keys("wrong password").await.unwrap();
        s.click(Locator::Id("sign-in-submit")).await;
        s.says("Wrong user name or password").await;
        s.shot("sign-in-failed").await;

        let password = s.client.find(Locator::Id("password")).await.unwrap();
        password.send_keys(PASSWORD).await.unwrap();
        s.click(Locator::Id("sign-in-submit")).await;
        s.at("/brands/acme/inbox").await;
        let rows = s.client.find_all(Locator::Css(".row-link")).await.unwrap();
        assert_eq!(rows.len(), 3, "acme's three comments");
        let body = s.body().await;
        assert!(body.contains("3 comments match"), "{body}");
        assert!(body.contains("Response due"), "{body}");
        s.shot("inbox").await;
        s.accessible("inbox").await;

        // the most urgent, oldest first: c1
        rows[0].clone().click().await.unwrap();
        s.at("/brands/acme/comments/facebook/c1").await;
        let body = s.body().await;
        assert!(body.contains("Où est ma commande"), "{body}");
        assert!(body.contains("Check failed: spelling"), "{body}");
        s.shot("comment").await;
        s.accessible("comment").await;

        // edit the first draft and approve it
        let text = s.client.find(Locator::Id("text-0")).await.unwrap();
        text.clear().await.unwrap();
        text.send_keys("Bonjour Camille, votre colis part aujourd'hui. L'équipe Acme")
            .await
            .unwrap();
        let counter = s.client.find(Locator::Id("count-0")).await.unwrap();
        assert!(counter.text().await.unwrap().starts_with("60 / 8000"));
        // the checks follow the text as it is typed: this sign-off is not the brand's
        let mut live = String::new();
        for _ in 0..50 {
            live = s
                .client
                .find(Locator::Id("checks-0"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if live.contains("Check failed: sign off") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(live.contains("Check failed: sign off"), "{live}");
        s.shot("live-checks").await;
        s.click(Locator::Css("button[value=edit_and_approve]")).await;
        s.at("/brands/acme/comments/facebook/c1").await;
        let body = s.says("Done.").await;
        assert!(body.contains("edit and approve"), "the audit trail: {body}");
        assert!(body.contains("votre colis part aujourd'hui"), "{body}");
        s.shot("approved").await;

        // c2 open here while ada approves it elsewhere: approving the stale page conflicts
        s.goto("/brands/acme/comments/facebook/c2").await;
        let c2 = key("acme", "c2");
        let revision = service::detail(&store, &c2, Timestamp::now())
            .await
            .unwrap()
            .review
            .revision;
        service::act(
            &store,
            None,
            &c2,
            &Command::Approve { index: 1 },
            &Actor::new("ada", Role::Admin),
            revision,
            Timestamp::now(),
        )
        .await
        .unwrap();
        s.click(Locator::Css("button[data-key=approve]")).await;
        let body = s
            .says("Someone changed this comment while you were on it")
            .await;
        assert!(body.contains("ada (admin)"), "the current state: {body}");
        s.shot("conflict").await;

        // the keyboard: j and k walk the inbox, r goes to the reject reason, a approves
        s.goto("/brands/acme/inbox").await;
        let hrefs: Vec<String> = {
            let mut out = Vec::new();
            for r in s.client.find_all(Locator::Css(".row-link")).await.unwrap() {
                out.push(r.attr("href").await.unwrap().unwrap());
            }
            out
        };
        s.press("j").await;
        assert_eq!(s.focused("href").await.as_ref(), Some(&hrefs[0]));
        s.press("j").await;
        // the focus was moved to <main> to press: j starts from the first row again
        assert_eq!(s.focused("href").await.as_ref(), Some(&hrefs[0]));
        let first = s.client.active_element().await.unwrap();
        first.send_keys("j").await.unwrap();
        assert_eq!(s.focused("href").await.as_ref(), Some(&hrefs[1]));
        s.client
            .active_element()
            .await
            .unwrap()
            .send_keys("k")
            .await
            .unwrap();
        assert_eq!(s.focused("href").await.as_ref(), Some(&hrefs[0]));
        s.shot("keyboard-inbox").await;
        // the private message is tagged in the inbox as on its page
        let tagged: Vec<String> = {
            let mut out = Vec::new();
            for t in s.client.find_all(Locator::Css(".row .tag.private")).await.unwrap() {
                out.push(t.text().await.unwrap());
            }
            out
        };
        assert_eq!(tagged, ["Private message"]);
        s.goto("/brands/acme/comments/facebook/c3").await;
        let private = s
            .client
            .find(Locator::Id("private"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(private, "Private message");
        s.press("r").await;
        assert_eq!(s.focused("id").await.as_deref(), Some("reason-0"));
        s.press("a").await;
        let body = s.says("Done.").await;
        assert!(body.contains("approve"), "the audit trail: {body}");
        s.shot("keyboard-approved").await;

        // a filter swaps the list in place (htmx), and the address follows
        s.goto("/brands/acme/inbox").await;
        s.client
            .execute("window.vigieSamePage = 42", vec![])
            .await
            .unwrap();
        s.click(Locator::Css("a[href*='sla_breached=true']")).await;
        s.rows(1).await;
        let same = s
            .client
            .execute("return window.vigieSamePage", vec![])
            .await
            .unwrap();
        assert_eq!(same, json!(42), "swapped in, not a new page");
        let url = s.client.current_url().await.unwrap();
        assert!(
            url.query().unwrap_or("").contains("sla_breached=true"),
            "{url}"
        );
        s.shot("filtered").await;

        // the brand content: read-only for a responder
        s.goto("/brands/acme/content").await;
        let voice = s.client.find(Locator::Id("file-voice")).await.unwrap();
        assert!(voice.attr("readonly").await.unwrap().is_some());
        assert!(s.body().await.contains("Only the brand's admins"));
        assert!(
            s.client
                .find_all(Locator::Id("store-content"))
                .await
                .unwrap()
                .is_empty()
        );

        // reports, with the chart drawn on the server
        s.goto("/brands/acme/reports").await;
        let chart = s.client.find(Locator::Css("svg.chart")).await.unwrap();
        assert!(
            !chart
                .find_all(Locator::Css("rect"))
                .await
                .unwrap()
                .is_empty()
        );
        let csv = s.client.find(Locator::Css("a[download]")).await.unwrap();
        assert!(
            csv.attr("href")
                .await
                .unwrap()
                .unwrap()
                .contains("/api/brands/acme/reports.csv")
        );
        s.shot("reports").await;
        s.accessible("reports").await;

        // in French
        s.click(Locator::Css("a[hreflang=fr]")).await;
        s.at("/brands/acme/reports").await;
        let html = s.client.find(Locator::Css("html")).await.unwrap();
        assert_eq!(html.attr("lang").await.unwrap().as_deref(), Some("fr"));
        let body = s.body().await;
        assert!(
            body.contains("Rapports") && body.contains("Télécharger le CSV"),
            "{body}"
        );
        s.shot("reports-fr").await;

        // another brand's inbox is a missing page
        s.goto("/brands/globex/inbox").await;
        let body = s.body().await;
        assert!(body.contains("Rien ici"), "{body}");
        assert!(
            s.client
                .find_all(Locator::Css(".row-link"))
                .await
                .unwrap()
                .is_empty()
        );
        s.shot("other-brand").await;

        // an admin edits the brand content (the page is in French now)
        s.click(Locator::Css("form.sign-out button")).await;
        s.at("/sign-in").await;
        s.sign_in("ada").await;
        // the session cookie comes with the answer to the form: wait for it before leaving
        s.at("/brands/acme/inbox").await;
        s.goto("/brands/acme/content").await;
        let body = s.body().await;
        assert!(body.contains("Version 1"), "{body}");
        s.accessible("content").await;
        let words = s.client.find(Locator::Id("file-words")).await.unwrap();
        words.send_keys("Bruxelles\n").await.unwrap();
        s.click(Locator::Id("store-content")).await;
        s.says("Enregistré comme version 2.").await;
        let stored = store.content(&brand("acme")).await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.updated_by, "ada");
        assert!(
            stored.words.iter().any(|w| w == "Bruxelles"),
            "{:?}",
            stored.words
        );
        s.shot("content-saved").await;
        // a mistake is sent back with the file it is in
        // the caret to the start of voice.toml, and a value of the wrong type typed there
        s.client
            .execute(
                "const v = document.getElementById('file-voice'); v.focus(); v.setSelectionRange(0, 0);",
                vec![],
            )
            .await
            .unwrap();
        let voice = s.client.active_element().await.unwrap();
        voice.send_keys("emoji_max = \"beaucoup\"\n").await.unwrap();
        s.click(Locator::Id("store-content")).await;
        s.says("Non enregistré").await;
        let notice = s.client.find(Locator::Id("notice")).await.unwrap();
        let text = notice.text().await.unwrap();
        assert!(text.contains("voice.toml"), "{text}");
        let voice = s.client.find(Locator::Id("file-voice")).await.unwrap();
        assert_eq!(
            voice.attr("aria-invalid").await.unwrap().as_deref(),
            Some("true")
        );
        s.shot("content-refused").await;
        s.accessible("content-refused").await;
        assert_eq!(
            store
                .content(&brand("acme"))
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
    })
    .await;
    // the browser goes whatever happened, then the test's failure if any
    let _ = client.close().await;
    drop(driver);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
