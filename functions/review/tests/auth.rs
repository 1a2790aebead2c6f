//! Authentication of the review surface through HTTP: session cookies, CSRF, API tokens,
//! OpenID Connect JWTs, sign-in limits and the Host guard, on a small router that mounts
//! the middleware, the session routes and one protected handler, over the SQLite store.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router, middleware};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;
use vigie_core::comment::BrandId;
use vigie_core::ports::UserStore;
use vigie_core::review::Role;
use vigie_core::time::Timestamp;
use vigie_core::users::{User, UserName};
use vigie_review::auth::{
    self, Auth, AuthConfig, ClientIp, OidcConfig, Principal, SessionKey, SignInLimits, Signed, Via,
};
use vigie_sqlite::{Database, SqliteStore};

const HOST: &str = "127.0.0.1:8080";
const PASSWORD: &str = "correct horse battery staple";
const T0: i64 = 1_764_086_400_000;
const ISSUER: &str = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_Test";
const AUDIENCE: &str = "vigie-review";

fn brand(b: &str) -> BrandId {
    BrandId::parse(b).unwrap()
}

fn name(n: &str) -> UserName {
    UserName::parse(n).unwrap()
}

/// The one protected handler: the caller's role on the brand, or 404 for a brand not
/// theirs.
async fn protected(
    Signed(p): Signed,
    Path(b): Path<String>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let role = BrandId::parse(&b).ok().and_then(|b| p.role(&b));
    let via = match p.via {
        Via::Session { .. } => "session",
        Via::Token => "token",
        Via::Jwt => "jwt",
    };
    match role {
        Some(role) => Ok(Json(json!({"user": p.user, "role": role, "via": via}))),
        None => Err((
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown_brand", "message": "no such brand"})),
        )),
    }
}

/// A change: answers what it read, to show the body reaches it whole.
async fn change(Signed(p): Signed, body: String) -> Json<Value> {
    Json(json!({"user": p.user, "body": body}))
}

/// Whether a principal is there, without asking for one.
async fn open_page(principal: Option<Principal>) -> String {
    principal.map_or("anonymous".into(), |p| p.user.to_string())
}

struct App {
    router: Router,
    store: SqliteStore,
    auth: Auth,
    clock: Arc<AtomicI64>,
}

impl App {
    fn advance(&self, by: Duration) {
        self.clock
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

fn jwks() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/jwks.json")).unwrap()
}

fn key_file(file: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn config() -> AuthConfig {
    let mut config = AuthConfig::local(
        SessionKey::from_bytes(&[42; 32]).unwrap(),
        HOST.parse().unwrap(),
    );
    config.oidc = Some(OidcConfig::new(ISSUER, AUDIENCE, jwks()));
    config
}

async fn app_with(config: AuthConfig) -> App {
    logs();
    let store = Database::in_memory().unwrap().store();
    let clock = Arc::new(AtomicI64::new(T0));
    let now = Arc::clone(&clock);
    let auth = Auth::with_clock(Arc::new(store.clone()), config, move || {
        Timestamp(now.load(Ordering::SeqCst))
    })
    .unwrap();
    let router = Router::new()
        .route("/api/brands/{brand}/secret", get(protected).post(change))
        .route("/open", get(open_page).post(open_page))
        .merge(auth::routes().with_state(auth.clone()))
        .layer(middleware::from_fn_with_state(
            auth.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            auth.clone(),
            auth::host_guard,
        ));
    let app = App {
        router,
        store,
        auth,
        clock,
    };
    add_user(&app, "camille", &[("acme", Role::Admin)]).await;
    add_user(&app, "lou@acme.fr", &[("acme", Role::Viewer)]).await;
    app
}

async fn app() -> App {
    app_with(config()).await
}

async fn add_user(app: &App, n: &str, roles: &[(&str, Role)]) {
    let user = User {
        name: name(n),
        password_hash: auth::hash_password(PASSWORD).unwrap(),
        roles: roles.iter().map(|(b, r)| (brand(b), *r)).collect(),
        revision: 1,
        session_epoch: 0,
        tokens: Vec::new(),
    };
    app.store.put_user(&user, None).await.unwrap();
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The session cookie set, as `name=value` for a `Cookie` header.
    fn cookie(&self) -> String {
        let set = self.headers["set-cookie"].to_str().unwrap();
        set.split(';').next().unwrap().to_owned()
    }

    fn set_cookie(&self) -> &str {
        self.headers["set-cookie"].to_str().unwrap()
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect()
}

fn request(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
}

async fn send(app: &App, req: Request<Body>) -> Answer {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn sign_in_from(app: &App, user: &str, password: &str, ip: &str) -> Answer {
    let mut req = request("POST", "/api/session")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"user": user, "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut()
        .insert(ClientIp(ip.parse::<IpAddr>().unwrap()));
    send(app, req).await
}

async fn sign_in(app: &App, user: &str, password: &str) -> Answer {
    sign_in_from(app, user, password, "192.0.2.10").await
}

/// Signs in, returns the `Cookie` header and the CSRF token.
async fn session(app: &App, user: &str) -> (String, String) {
    let a = sign_in(app, user, PASSWORD).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    (a.cookie(), a.json()["csrf"].as_str().unwrap().to_owned())
}

async fn get_with(app: &App, uri: &str, header: (&str, &str)) -> Answer {
    send(
        app,
        request("GET", uri)
            .header(header.0, header.1)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

async fn get_plain(app: &App, uri: &str) -> Answer {
    send(app, request("GET", uri).body(Body::empty()).unwrap()).await
}

const UNAUTHENTICATED: &str = r#"{"error":"unauthenticated","message":"sign in first"}"#;

#[tokio::test]
async fn a_good_password_signs_in_and_a_wrong_one_or_an_unknown_user_answer_alike() {
    let app = app().await;
    let ok = sign_in(&app, " Camille ", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let body = ok.json();
    assert_eq!(body["user"], "camille");
    assert_eq!(body["roles"], json!({"acme": "admin"}));
    assert_eq!(body["via"], "session");
    assert_eq!(body["csrf"].as_str().unwrap().len(), 43);
    assert_eq!(ok.headers["cache-control"], "no-store");

    let wrong = sign_in(&app, "camille", "correct horse battery stapler").await;
    let unknown = sign_in(&app, "nobody", PASSWORD).await;
    let invalid = sign_in(&app, "not a user name!", PASSWORD).await;
    for a in [&wrong, &unknown, &invalid] {
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            a.body,
            r#"{"error":"bad_credentials","message":"wrong user name or password"}"#
        );
        assert!(!a.headers.contains_key("set-cookie"));
    }

    for bad in ["{\"user\":\"camille\"}", "not json", ""] {
        let a = send(
            &app,
            request("POST", "/api/session")
                .header("content-type", "application/json")
                .body(Body::from(bad))
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(a.json()["error"], "bad_request");
    }
    let put = send(
        &app,
        request("PUT", "/api/session").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.json()["error"], "method_not_allowed");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_when_configured() {
    let app = app().await;
    let a = sign_in(&app, "camille", PASSWORD).await;
    let set = a.set_cookie();
    assert!(set.starts_with("vigie_session="), "{set}");
    for attribute in [
        "; HttpOnly",
        "; SameSite=Strict",
        "; Path=/",
        "; Max-Age=43200",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    assert!(!set.contains("Secure"), "{set}");

    let mut secure = config();
    secure.secure_cookies = true;
    let app = app_with(secure).await;
    let a = sign_in(&app, "camille", PASSWORD).await;
    assert!(a.set_cookie().contains("; Secure"), "{}", a.set_cookie());
    let cookie = a.cookie();
    let csrf = a.json()["csrf"].as_str().unwrap().to_owned();
    let out = send(
        &app,
        request("DELETE", "/api/session")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.set_cookie();
    assert!(cleared.starts_with("vigie_session=;"), "{cleared}");
    for attribute in [
        "Max-Age=0",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/",
    ] {
        assert!(cleared.contains(attribute), "{attribute} in {cleared}");
    }
}

#[tokio::test]
async fn a_session_cookie_authenticates_and_without_one_every_path_answers_alike() {
    let app = app().await;
    let (cookie, csrf) = session(&app, "camille").await;
    let a = get_with(&app, "/api/brands/acme/secret", ("cookie", &cookie)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"user": "camille", "role": "admin", "via": "session"})
    );
    let me = get_with(&app, "/api/session", ("cookie", &cookie)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["csrf"], csrf);
    assert_eq!(me.json()["roles"], json!({"acme": "admin"}));
    let theirs = get_with(&app, "/api/brands/globex/secret", ("cookie", &cookie)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    for path in [
        "/api/brands/acme/secret",
        "/api/brands/globex/secret",
        "/api/session",
    ] {
        let a = get_plain(&app, path).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(a.body, UNAUTHENTICATED, "{path}");
    }
    assert_eq!(get_plain(&app, "/open").await.body, "anonymous");
    assert_eq!(
        get_with(&app, "/open", ("cookie", &cookie)).await.body,
        "camille"
    );
}

#[tokio::test]
async fn a_tampered_or_expired_cookie_is_no_session() {
    let app = app().await;
    let (cookie, _) = session(&app, "camille").await;
    let value = cookie.strip_prefix("vigie_session=").unwrap();
    let mut fields: Vec<String> = value.split('.').map(str::to_owned).collect();
    // Another user's name under camille's MAC.
    fields[1] = "bG91QGFjbWUuZnI".into();
    let forged = format!("vigie_session={}", fields.join("."));
    let last = value.chars().last().unwrap();
    let flipped = format!(
        "vigie_session={}{}",
        &value[..value.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    for bad in [
        forged,
        flipped,
        "vigie_session=".into(),
        "vigie_session=v1.x".into(),
    ] {
        let a = get_with(&app, "/api/brands/acme/secret", ("cookie", &bad)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(a.body, UNAUTHENTICATED);
    }
    let two = format!("{cookie}; {cookie}");
    let a = get_with(&app, "/api/brands/acme/secret", ("cookie", &two)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "two session cookies");

    app.advance(Duration::from_secs(12 * 3600 - 1));
    let a = get_with(&app, "/api/brands/acme/secret", ("cookie", &cookie)).await;
    assert_eq!(a.status, StatusCode::OK);
    app.advance(Duration::from_secs(1));
    let a = get_with(&app, "/api/brands/acme/secret", ("cookie", &cookie)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_everywhere_or_changing_the_password_ends_every_session() {
    let app = app().await;
    let (first, csrf) = session(&app, "camille").await;
    let (second, _) = session(&app, "camille").await;
    let (lou, _) = session(&app, "lou@acme.fr").await;
    let out = send(
        &app,
        request("POST", "/api/session/everywhere")
            .header("cookie", &first)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    assert!(out.set_cookie().contains("Max-Age=0"));
    for cookie in [&first, &second] {
        let a = get_with(&app, "/api/session", ("cookie", cookie)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let stored = app.store.user(&name("camille")).await.unwrap().unwrap();
    assert_eq!((stored.session_epoch, stored.revision), (1, 2));
    assert_eq!(
        get_with(&app, "/api/session", ("cookie", &lou))
            .await
            .status,
        StatusCode::OK,
        "another user's session goes on"
    );

    let (again, _) = session(&app, "camille").await;
    assert_eq!(
        get_with(&app, "/api/session", ("cookie", &again))
            .await
            .status,
        StatusCode::OK
    );
    let mut changed = stored.clone();
    changed.change_password(auth::hash_password("another long password").unwrap());
    changed.revision += 1;
    app.store
        .put_user(&changed, Some(stored.revision))
        .await
        .unwrap();
    assert_eq!(
        get_with(&app, "/api/session", ("cookie", &again))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.auth.end_sessions(&name("lou@acme.fr")).await.unwrap();
    assert_eq!(
        get_with(&app, "/api/session", ("cookie", &lou))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_removed_users_session_ends_and_does_not_come_back_with_a_new_user_of_that_name() {
    let app = app().await;
    let (cookie, _) = session(&app, "lou@acme.fr").await;
    assert!(app.store.remove_user(&name("lou@acme.fr")).await.unwrap());
    let a = get_with(&app, "/api/session", ("cookie", &cookie)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    add_user(&app, "lou@acme.fr", &[("acme", Role::Admin)]).await;
    let a = get_with(&app, "/api/session", ("cookie", &cookie)).await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "same name, epoch 0, new hash"
    );
}

async fn post_change(app: &App, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut req = request("POST", "/api/brands/acme/secret");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(app, req.body(Body::from(body.to_owned())).unwrap()).await
}

#[tokio::test]
async fn a_change_with_a_session_needs_its_csrf_token_in_a_header_or_a_form_field() {
    let app = app().await;
    let (cookie, csrf) = session(&app, "camille").await;
    let (_, other_csrf) = session(&app, "camille").await;
    let cookie = cookie.as_str();
    let csrf_error = |a: &Answer| {
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert_eq!(a.json()["error"], "csrf");
    };
    csrf_error(&post_change(&app, &[("cookie", cookie)], "x").await);
    csrf_error(&post_change(&app, &[("cookie", cookie), ("x-csrf-token", "nope")], "x").await);
    csrf_error(
        &post_change(
            &app,
            &[("cookie", cookie), ("x-csrf-token", &other_csrf)],
            "x",
        )
        .await,
    );
    let ok = post_change(
        &app,
        &[("cookie", cookie), ("x-csrf-token", &csrf)],
        "{\"n\":1}",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["body"], "{\"n\":1}");

    let form = [
        ("cookie", cookie),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let body = format!("reply=Merci+%C3%A0+vous&csrf={csrf}&action=send");
    let ok = post_change(&app, &form, &body).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["body"], body, "the handler reads the whole form");
    csrf_error(&post_change(&app, &form, "reply=x&csrf=wrong").await);
    csrf_error(&post_change(&app, &form, "reply=x").await);
    csrf_error(
        &post_change(
            &app,
            &[("cookie", cookie), ("content-type", "text/plain")],
            &format!("csrf={csrf}"),
        )
        .await,
    );
    // Signing out is a change too.
    let out = send(
        &app,
        request("DELETE", "/api/session")
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    csrf_error(&out);
    // Without a session there is nothing to forge: the handler says 401.
    let a = post_change(&app, &[], "x").await;
    assert_eq!(a.body, UNAUTHENTICATED);
    // A form handler may check a field itself.
    let me = app
        .auth
        .principal(&headers(&[("cookie", cookie)]))
        .await
        .unwrap()
        .unwrap();
    assert!(me.check_csrf(Some(&csrf)).is_ok());
    assert!(me.check_csrf(Some(&other_csrf)).is_err());
    assert!(me.check_csrf(None).is_err());
}

#[tokio::test]
async fn a_change_from_another_origin_is_refused() {
    let app = app().await;
    let (cookie, csrf) = session(&app, "camille").await;
    let with = |origin: &'static str| {
        vec![
            ("cookie", cookie.clone()),
            ("x-csrf-token", csrf.clone()),
            ("origin", origin.to_owned()),
        ]
    };
    for origin in ["https://evil.example", "http://127.0.0.1:8081", "null"] {
        let h = with(origin);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = post_change(&app, &h, "x").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(a.json()["error"], "cross_origin");
    }
    let h = with("http://127.0.0.1:8080");
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post_change(&app, &h, "x").await.status, StatusCode::OK);

    let login = send(
        &app,
        request("POST", "/api/session")
            .header("content-type", "application/json")
            .header("origin", "https://evil.example")
            .body(Body::from(
                json!({"user": "camille", "password": PASSWORD}).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(
        login.status,
        StatusCode::FORBIDDEN,
        "a sign-in from elsewhere"
    );
    assert!(!login.headers.contains_key("set-cookie"));
}

#[tokio::test]
async fn an_api_token_authenticates_until_revoked_and_a_changed_one_never() {
    let app = app().await;
    let (record, token) = auth::mint_token(&app.store, &name("lou@acme.fr"), "nightly export")
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token.expose());
    let a = get_with(&app, "/api/brands/acme/secret", ("authorization", &bearer)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"user": "lou@acme.fr", "role": "viewer", "via": "token"})
    );
    // No CSRF token for a script, and no Origin check.
    let a = post_change(
        &app,
        &[
            ("authorization", &bearer),
            ("origin", "https://elsewhere.example"),
        ],
        "x",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let stored = app.store.user(&name("lou@acme.fr")).await.unwrap().unwrap();
    assert_eq!(stored.tokens.as_slice(), std::slice::from_ref(&record));
    assert!(!stored.tokens[0].sha256.is_empty());
    assert!(
        !serde_json::to_string(&stored)
            .unwrap()
            .contains(token.expose())
    );

    let text = token.expose();
    let last = text.chars().last().unwrap();
    let changed = format!(
        "{}{}",
        &text[..text.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    // Lou's id and secret presented as camille's.
    let (id, rest) = text
        .strip_prefix("vigie_")
        .unwrap()
        .split_once('_')
        .unwrap();
    let (_, secret) = rest.split_once('_').unwrap();
    let as_camille = format!("vigie_{id}_{}_{secret}", hex_of("camille"));
    let (cookie, _) = session(&app, "camille").await;
    for bad in [
        format!("Bearer {changed}"),
        format!("Bearer {as_camille}"),
        format!("Basic {}", token.expose()),
        "Bearer vigie_".to_owned(),
        "Bearer".to_owned(),
    ] {
        let a = get_with(&app, "/api/brands/acme/secret", ("authorization", &bad)).await;
        assert_eq!(a.body, UNAUTHENTICATED, "{bad}");
    }
    // A bad Authorization header is not made up for by a good cookie.
    let a = send(
        &app,
        request("GET", "/api/session")
            .header("authorization", format!("Bearer {changed}"))
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    auth::revoke_token(&app.store, &name("lou@acme.fr"), &record.id)
        .await
        .unwrap();
    let a = get_with(&app, "/api/brands/acme/secret", ("authorization", &bearer)).await;
    assert_eq!(a.body, UNAUTHENTICATED);
    assert!(matches!(
        auth::revoke_token(&app.store, &name("lou@acme.fr"), &record.id).await,
        Err(auth::AuthError::NoSuchToken)
    ));
    assert!(matches!(
        auth::mint_token(&app.store, &name("nobody"), "x").await,
        Err(auth::AuthError::NoSuchUser)
    ));
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(extra: Value) -> Value {
    let mut c = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now_s() + 600,
        "iat": now_s(),
        "email": "Camille@example.fr",
        "email_verified": true,
        "cognito:username": "lou@acme.fr",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn rs256(kid: &str, key_file_name: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(&key_file(key_file_name)).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn es256(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let key = EncodingKey::from_ec_pem(&key_file("ec.pem")).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn via_jwt(app: &App, jwt: &str) -> Answer {
    get_with(
        app,
        "/api/brands/acme/secret",
        ("authorization", &format!("Bearer {jwt}")),
    )
    .await
}

#[tokio::test]
async fn an_openid_connect_jwt_authenticates_only_when_every_check_holds() {
    let app = app().await;
    add_user(&app, "camille@example.fr", &[("acme", Role::Responder)]).await;
    let good = rs256("rsa-1", "rsa.pem", &claims(json!({})));
    let a = via_jwt(&app, &good).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"user": "camille@example.fr", "role": "responder", "via": "jwt"})
    );
    let a = via_jwt(&app, &es256(&claims(json!({})))).await;
    assert_eq!(a.status, StatusCode::OK, "ES256: {}", a.body);
    // Cognito access tokens: no aud, the audience as client_id.
    let access = claims(json!({"aud": null, "client_id": AUDIENCE}));
    assert_eq!(
        via_jwt(&app, &rs256("rsa-1", "rsa.pem", &access))
            .await
            .status,
        StatusCode::OK
    );
    let listed = claims(json!({"aud": ["other", AUDIENCE]}));
    assert_eq!(
        via_jwt(&app, &rs256("rsa-1", "rsa.pem", &listed))
            .await
            .status,
        StatusCode::OK
    );

    let good_parts: Vec<&str> = good.split('.').collect();
    let none_header = b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
    let alg_none = format!("{none_header}.{}.", good_parts[1]);
    let hs_header = b64(br#"{"alg":"HS256","typ":"JWT","kid":"rsa-1"}"#);
    let hs_message = format!("{hs_header}.{}", good_parts[1]);
    let hs_signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key_file("rsa.pub.pem")).unwrap();
        mac.update(hs_message.as_bytes());
        b64(&mac.finalize().into_bytes())
    };
    let hs256_confusion = format!("{hs_message}.{hs_signature}");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let hs256_library = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &EncodingKey::from_secret(&key_file("rsa.pub.pem")).unwrap(),
    )
    .unwrap();
    let tampered = {
        let mut c = claims(json!({}));
        c["email"] = json!("lou@acme.fr");
        format!(
            "{}.{}.{}",
            good_parts[0],
            b64(c.to_string().as_bytes()),
            good_parts[2]
        )
    };
    let rs_header_on_ec = {
        // An ES256 signature under a header claiming the RSA key.
        let ec = es256(&claims(json!({})));
        let p: Vec<&str> = ec.split('.').collect();
        format!("{}.{}.{}", good_parts[0], p[1], p[2])
    };
    let cases = [
        (
            "wrong issuer",
            rs256(
                "rsa-1",
                "rsa.pem",
                &claims(json!({"iss": "https://evil.example"})),
            ),
        ),
        (
            "no issuer",
            rs256("rsa-1", "rsa.pem", &claims(json!({"iss": null}))),
        ),
        (
            "wrong audience",
            rs256("rsa-1", "rsa.pem", &claims(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong client_id",
            rs256(
                "rsa-1",
                "rsa.pem",
                &claims(json!({"aud": null, "client_id": "x"})),
            ),
        ),
        (
            "expired",
            rs256("rsa-1", "rsa.pem", &claims(json!({"exp": now_s() - 120}))),
        ),
        (
            "not yet valid",
            rs256("rsa-1", "rsa.pem", &claims(json!({"nbf": now_s() + 600}))),
        ),
        (
            "no expiry",
            rs256("rsa-1", "rsa.pem", &claims(json!({"exp": null}))),
        ),
        (
            "bad signature",
            rs256("rsa-1", "rsa-other.pem", &claims(json!({}))),
        ),
        ("unknown kid", rs256("rsa-9", "rsa.pem", &claims(json!({})))),
        (
            "unverified email",
            rs256(
                "rsa-1",
                "rsa.pem",
                &claims(json!({"email_verified": false})),
            ),
        ),
        (
            "unknown user",
            rs256(
                "rsa-1",
                "rsa.pem",
                &claims(json!({"email": "nobody@example.fr"})),
            ),
        ),
        (
            "no user claim",
            rs256("rsa-1", "rsa.pem", &claims(json!({"email": null}))),
        ),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256_confusion),
        ("HS256 by the library", hs256_library),
        ("tampered claims", tampered),
        ("algorithm of another key", rs_header_on_ec),
        ("not a JWT", "ey.not.a.jwt".to_owned()),
    ];
    for (what, jwt) in cases {
        let a = via_jwt(&app, &jwt).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {}", a.body);
        assert_eq!(a.body, UNAUTHENTICATED, "{what}");
    }
    // Within the leeway, an expired token still passes.
    let late = rs256("rsa-1", "rsa.pem", &claims(json!({"exp": now_s() - 5})));
    assert_eq!(via_jwt(&app, &late).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_user_of_a_jwt_is_the_configured_claim_and_jwts_are_off_without_an_issuer() {
    let mut cognito = config();
    cognito.oidc.as_mut().unwrap().username_claim = "cognito:username".into();
    let app = app_with(cognito).await;
    let jwt = rs256(
        "rsa-1",
        "rsa.pem",
        &claims(json!({"email_verified": false})),
    );
    let a = via_jwt(&app, &jwt).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["user"], "lou@acme.fr");

    let mut without = config();
    without.oidc = None;
    let app = app_with(without).await;
    assert_eq!(via_jwt(&app, &jwt).await.status, StatusCode::UNAUTHORIZED);

    let mut bad = config();
    bad.oidc.as_mut().unwrap().jwks_json =
        r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#.into();
    let store = Database::in_memory().unwrap().store();
    assert!(matches!(
        Auth::new(Arc::new(store), bad),
        Err(auth::AuthConfigError::Jwks(_))
    ));
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_user_name_with_retry_after() {
    let app = app().await;
    for i in 0..5 {
        let a = sign_in_from(&app, "camille", "wrong password!!", &format!("192.0.2.{i}")).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let limited = sign_in_from(&app, "camille", PASSWORD, "198.51.100.7").await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.headers["retry-after"], "900");
    assert_eq!(limited.json()["error"], "rate_limited");
    assert_eq!(limited.json()["retry_after_seconds"], 900);
    assert!(!limited.headers.contains_key("set-cookie"));
    // Other names are not affected.
    assert_eq!(
        sign_in(&app, "lou@acme.fr", PASSWORD).await.status,
        StatusCode::OK
    );

    app.advance(Duration::from_secs(600));
    assert_eq!(
        sign_in(&app, "camille", PASSWORD).await.headers["retry-after"],
        "300"
    );
    app.advance(Duration::from_secs(300));
    assert_eq!(
        sign_in(&app, "camille", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_address_and_a_success_does_not_reset_it() {
    let mut config = config();
    config.limits = SignInLimits {
        per_ip: 3,
        ..SignInLimits::default()
    };
    let app = app_with(config).await;
    let ip = "203.0.113.5";
    sign_in_from(&app, "a", "wrong password!!", ip).await;
    sign_in_from(&app, "b", "wrong password!!", ip).await;
    assert_eq!(
        sign_in_from(&app, "camille", PASSWORD, ip).await.status,
        StatusCode::OK
    );
    sign_in_from(&app, "c", "wrong password!!", ip).await;
    let a = sign_in_from(&app, "lou@acme.fr", PASSWORD, ip).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers["retry-after"], "900");
    assert_eq!(
        sign_in_from(&app, "lou@acme.fr", PASSWORD, "203.0.113.6")
            .await
            .status,
        StatusCode::OK
    );

    // The peer address when nothing in front says better.
    let req = |peer: &str| {
        let mut req = request("POST", "/api/session")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"user": "x", "password": "y"}).to_string(),
            ))
            .unwrap();
        req.extensions_mut().insert(axum::extract::ConnectInfo(
            peer.parse::<SocketAddr>().unwrap(),
        ));
        req
    };
    for _ in 0..3 {
        assert_eq!(
            send(&app, req("[2001:db8::1]:5000")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send(&app, req("[2001:db8::2]:6000")).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same /64"
    );
}

#[tokio::test]
async fn requests_for_another_host_are_refused() {
    let app = app().await;
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST:8080",
        "[::1]:8080",
    ] {
        let a = send(
            &app,
            Request::get("/open")
                .header("host", host)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1:8081",
        "127.0.0.1",
    ] {
        let a = send(
            &app,
            Request::get("/open")
                .header("host", host)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        assert_eq!(
            a.body,
            r#"{"error":"unknown_host","message":"this server does not answer for that host"}"#
        );
    }
    let a = send(&app, Request::get("/open").body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["error"], "bad_request");
}

/// Everything written through `tracing` while the tests run (one subscriber for the
/// process: a thread's own would miss the events of call sites other tests met first).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .init();
        captured
    })
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_shows_in_an_answer_or_a_log_line() {
    let app = app().await;
    let mut answers = Vec::new();
    let ok = sign_in(&app, "camille", PASSWORD).await;
    let cookie = ok.cookie();
    let cookie_value = cookie.strip_prefix("vigie_session=").unwrap().to_owned();
    let csrf = ok.json()["csrf"].as_str().unwrap().to_owned();
    answers.push(ok.body.clone());
    answers.push(sign_in(&app, "camille", "a wrong password here").await.body);
    answers.push(sign_in(&app, "nobody", PASSWORD).await.body);
    let (_, token) = auth::mint_token(&app.store, &name("camille"), "script")
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token.expose());
    answers.push(
        get_with(&app, "/api/session", ("authorization", &bearer))
            .await
            .body,
    );
    answers.push(
        get_with(&app, "/api/session", ("cookie", &cookie))
            .await
            .body,
    );
    answers.push(
        post_change(
            &app,
            &[("cookie", &cookie), ("x-csrf-token", "forged")],
            "x",
        )
        .await
        .body,
    );
    let mut changed_token = token.expose().to_owned();
    let last = changed_token.pop().unwrap();
    changed_token.push(if last == 'x' { 'y' } else { 'x' });
    answers.push(
        get_with(
            &app,
            "/api/session",
            ("authorization", &format!("Bearer {changed_token}")),
        )
        .await
        .body,
    );
    for _ in 0..6 {
        answers.push(sign_in(&app, "camille", "a wrong password here").await.body);
    }
    let hash = app
        .store
        .user(&name("camille"))
        .await
        .unwrap()
        .unwrap()
        .password_hash;

    let logs = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("signed in"), "{logs}");
    assert!(logs.contains("too many failures"), "{logs}");
    let secret = &token.expose()[token.expose().len() - 43..];
    for text in answers.iter().chain([&logs]) {
        for (what, s) in [
            ("password", PASSWORD),
            ("wrong password", "a wrong password here"),
            ("token secret", secret),
            ("cookie", cookie_value.as_str()),
            ("hash", hash.as_str()),
            ("hash salt", hash.split('$').nth(4).unwrap()),
        ] {
            assert!(!text.contains(s), "{what} in {text}");
        }
    }
    assert!(!logs.contains(&csrf), "{logs}");
    let shown = format!("{:?} {:?} {:?}", app.auth, token, config());
    assert!(
        !shown.contains(secret) && !shown.contains("42, 42"),
        "{shown}"
    );
    let me = app
        .auth
        .principal(&headers(&[("cookie", &cookie)]))
        .await
        .unwrap()
        .unwrap();
    assert!(!format!("{me:?}").contains(&csrf));
}
