//! The web page's routes without a browser: redirects to sign in, page headers (CSP, no
//! caching), the language chosen from Accept-Language and the `lang` cookie, assets
//! cached for good.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigie_core::config::Brands;
use vigie_review::auth::{Auth, AuthConfig, SessionKey};
use vigie_review::{ReviewState, router};
use vigie_sqlite::Database;

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
"#;

fn app() -> axum::Router {
    let db = Database::in_memory().unwrap();
    let store = db.store();
    let config = AuthConfig {
        allowed_hosts: vec!["review.test".into()],
        ..AuthConfig::new(SessionKey::generate())
    };
    router(Arc::new(ReviewState {
        brands: Arc::new(Brands::parse("brands.toml".as_ref(), CONFIG).unwrap()),
        auth: Auth::new(Arc::new(store.clone()), config).unwrap(),
        store,
        drafts: None,
        embedder: None,
        speller: None,
    }))
}

async fn get(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut r = Request::builder().uri(uri).header("host", "review.test");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = app().oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn pages_send_who_is_not_signed_in_to_the_sign_in_page() {
    for uri in [
        "/",
        "/brands/acme/inbox",
        "/brands/acme/comments/facebook/1",
        "/brands/acme/reports",
        "/brands/acme/content",
        "/brands/nobody/inbox",
    ] {
        let (status, headers, _) = get(uri, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(headers["location"], "/sign-in", "{uri}");
    }
}

#[tokio::test]
async fn the_sign_in_page_is_strict_and_speaks_the_browser_s_language() {
    let (status, headers, body) = get("/sign-in", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.contains("<html lang=\"en\">") && body.contains("Sign in"));
    assert!(body.contains("<label for=\"password\">"));

    let fr = [("accept-language", "fr-FR,fr;q=0.9,en;q=0.5")];
    let (_, _, body) = get("/sign-in", &fr).await;
    assert!(body.contains("<html lang=\"fr\">") && body.contains("Se connecter"));

    let cookie = [("accept-language", "fr-FR"), ("cookie", "lang=en")];
    let (_, _, body) = get("/sign-in", &cookie).await;
    assert!(body.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn the_language_switch_remembers_and_goes_back_only_within_the_site() {
    let (status, headers, _) = get("/lang/fr?back=/brands/acme/inbox%3Fplatform%3Dx", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/brands/acme/inbox?platform=x");
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("lang=fr;")
    );
    for back in ["//evil.example", "https://evil.example", "/%5Cevil.example"] {
        let (_, headers, _) = get(&format!("/lang/en?back={back}"), &[]).await;
        assert_eq!(headers["location"], "/", "{back}");
    }
}

#[tokio::test]
async fn assets_are_embedded_and_cached_for_good() {
    for (name, kind) in [
        ("htmx.min.js", "text/javascript"),
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
    ] {
        let (status, headers, body) = get(&format!("/assets/{name}"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert!(!body.is_empty());
    }
    let (_, _, htmx) = get("/assets/htmx.min.js", &[]).await;
    assert!(htmx.starts_with("/* htmx.org 2."));
    let (status, _, _) = get("/assets/other.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
