//! The managers' web page, served by the review router next to the API: sign-in, the
//! inbox, a comment with its drafts and actions, reports; English and French. Pages call
//! [`crate::service`] as the JSON routes do, and work without JavaScript (htmx refreshes
//! the inbox list when it is there). Assets are embedded in the binary and served under
//! `/assets/`; pages forbid every other origin (`Content-Security-Policy: default-src
//! 'self'`).

pub mod chart;
pub mod i18n;
mod views;

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, RETRY_AFTER, SET_COOKIE,
    VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use vigie_core::review::{Actor, Command, ReviewError};
use vigie_core::time::Timestamp;

use crate::api::{ContentQuery, InboxQuery, ReportQuery, brand_of, key_of};
use crate::auth::{AuthError, ClientIp, Principal};
use crate::service::{self, Store};
use crate::{ApiError, ReviewState};
use i18n::{LANG_COOKIE, Lang};
use views::{ChecksView, CommentView, ContentView, InboxView, ReportView};

/// What every page's header shows: the language, who is signed in, their brands.
pub struct Chrome {
    pub lang: Lang,
    pub user: Option<String>,
    pub csrf: Option<String>,
    /// The brand the page is about.
    pub brand: Option<String>,
    pub brands: Vec<String>,
    /// Path and query of this page, for the language switch to come back to.
    pub here: String,
}

impl Chrome {
    fn new(headers: &HeaderMap, principal: Option<&Principal>, here: String) -> Self {
        Self {
            lang: Lang::of(headers),
            user: principal.map(|p| p.user.to_string()),
            csrf: principal
                .and_then(|p| p.csrf())
                .map(|c| c.as_str().to_owned()),
            brand: None,
            brands: principal
                .map(|p| p.roles.keys().map(|b| b.to_string()).collect())
                .unwrap_or_default(),
            here,
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The link of the language switch.
    pub fn switch_href(&self) -> String {
        format!(
            "/lang/{}?back={}",
            self.lang.other().code(),
            views::encode(&self.here)
        )
    }

    /// Appended to asset URLs: a new release is a new URL, so assets cache for good.
    pub fn v(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    pub fn csrf(&self) -> &str {
        self.csrf.as_deref().unwrap_or("")
    }

    pub fn is_brand(&self, b: &str) -> bool {
        self.brand.as_deref() == Some(b)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignInPage {
    c: Chrome,
    error: Option<String>,
    user: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    c: Chrome,
    title: &'static str,
    text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    v: InboxView,
}

#[derive(Template, WebTemplate)]
#[template(path = "inbox_list.html")]
struct InboxList {
    c: Chrome,
    v: InboxView,
}

#[derive(Template, WebTemplate)]
#[template(path = "comment.html")]
struct CommentPage {
    c: Chrome,
    v: CommentView,
    notice: Option<Notice>,
}

#[derive(Template, WebTemplate)]
#[template(path = "checks.html")]
struct ChecksFragment {
    c: Chrome,
    k: ChecksView,
}

#[derive(Template, WebTemplate)]
#[template(path = "content.html")]
struct ContentPage {
    c: Chrome,
    v: ContentView,
    notice: Option<Notice>,
}

#[derive(Template, WebTemplate)]
#[template(path = "reports.html")]
struct ReportsPage {
    c: Chrome,
    v: ReportView,
}

/// A message above a comment: what happened to the last action.
pub struct Notice {
    /// `ok` or `error`, for its style.
    pub kind: &'static str,
    pub text: String,
}

const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn to_sign_in() -> Response {
    Redirect::to("/sign-in").into_response()
}

fn message(c: Chrome, status: StatusCode, title: &'static str, text: String) -> Response {
    (status, MessagePage { c, title, text }).into_response()
}

/// A failure of the service as a page.
fn failure(c: Chrome, e: ApiError) -> Response {
    match e {
        ApiError::NoRoute | ApiError::NotFound => {
            let text = c.t("not_found_text").to_owned();
            message(c, StatusCode::NOT_FOUND, "not_found", text)
        }
        ApiError::BadRequest(m) => {
            let text = format!("{} {m}", c.t("bad_request"));
            message(c, StatusCode::BAD_REQUEST, "bad_request", text)
        }
        ApiError::MethodNotAllowed(_) => {
            let text = c.t("not_found_text").to_owned();
            message(c, StatusCode::METHOD_NOT_ALLOWED, "not_found", text)
        }
        ApiError::Review(e) => {
            let text = e.to_string();
            message(c, StatusCode::CONFLICT, "invalid", text)
        }
        ApiError::Forbidden => {
            let text = c.t("content_forbidden").to_owned();
            message(c, StatusCode::FORBIDDEN, "invalid", text)
        }
        ApiError::InvalidContent(e) => {
            let text = format!("{} {e}", c.t("content_invalid"));
            message(c, StatusCode::UNPROCESSABLE_ENTITY, "invalid", text)
        }
        ApiError::StaleContent { .. } => {
            let text = c.t("conflict").to_owned();
            message(c, StatusCode::CONFLICT, "invalid", text)
        }
        ApiError::Store(e) => {
            tracing::error!(error = %e, "review store failure");
            let text = c.t("unavailable").to_owned();
            message(c, StatusCode::SERVICE_UNAVAILABLE, "unavailable", text)
        }
    }
}

fn here(path: &str, query: Option<&str>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

/// What every brand page starts from: a signed-in user, a brand of theirs, the chrome and
/// the query; or the answer that stops it (sign in, a missing brand, a bad query).
struct BrandPage<Q> {
    c: Chrome,
    brand: vigie_core::comment::BrandId,
    role: vigie_core::review::Role,
    q: Q,
}

impl<Q> BrandPage<Q> {
    fn open<S>(
        state: &ReviewState<S>,
        headers: &HeaderMap,
        principal: Option<&Principal>,
        (name, page): (&str, &str),
        raw: Option<&str>,
        q: Result<Query<Q>, QueryRejection>,
    ) -> Result<Self, Box<Response>> {
        let Some(principal) = principal else {
            return Err(Box::new(to_sign_in()));
        };
        let path = format!("/brands/{name}/{page}");
        let mut c = Chrome::new(headers, Some(principal), here(&path, raw));
        let (brand, role) = match brand_of(state, principal, name) {
            Ok(b) => b,
            Err(e) => return Err(Box::new(failure(c, e))),
        };
        c.brand = Some(brand.to_string());
        match q {
            Ok(Query(q)) => Ok(Self { c, brand, role, q }),
            Err(e) => Err(Box::new(failure(c, ApiError::BadRequest(e.body_text())))),
        }
    }
}

async fn sign_in_page(headers: HeaderMap, principal: Option<Principal>) -> Response {
    let c = Chrome::new(&headers, principal.as_ref(), "/sign-in".into());
    SignInPage {
        c,
        error: None,
        user: String::new(),
    }
    .into_response()
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

async fn sign_in<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    principal: Option<Principal>,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let user = fields.get("user").cloned().unwrap_or_default();
    let password = fields.get("password").map(String::as_str).unwrap_or("");
    let c = Chrome::new(&headers, principal.as_ref(), "/sign-in".into());
    match state.auth.sign_in(&user, password, client).await {
        Ok(signed_in) => ([(SET_COOKIE, signed_in.set_cookie)], Redirect::to("/")).into_response(),
        Err(AuthError::RateLimited {
            retry_after_seconds,
        }) => {
            let error = format!(
                "{} {retry_after_seconds} {}.",
                c.t("rate_limited"),
                c.t("seconds")
            );
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(RETRY_AFTER, HeaderValue::from(retry_after_seconds))],
                SignInPage {
                    c,
                    error: Some(error),
                    user,
                },
            )
                .into_response()
        }
        Err(AuthError::BadCredentials) => {
            let error = Some(c.t("bad_credentials").to_owned());
            (StatusCode::UNAUTHORIZED, SignInPage { c, error, user }).into_response()
        }
        Err(e) => {
            if let AuthError::Store(e) = &e {
                tracing::error!(error = %e, "user store failure");
            }
            let error = Some(c.t("unavailable").to_owned());
            (
                StatusCode::SERVICE_UNAVAILABLE,
                SignInPage { c, error, user },
            )
                .into_response()
        }
    }
}

async fn sign_out<S: Store>(State(state): State<Arc<ReviewState<S>>>) -> Response {
    (
        [(SET_COOKIE, state.auth.sign_out_cookie())],
        Redirect::to("/sign-in"),
    )
        .into_response()
}

async fn home<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
) -> Response {
    let Some(principal) = principal else {
        return to_sign_in();
    };
    let first = principal
        .roles
        .keys()
        .find(|b| state.brands.get(b).is_some());
    match first {
        Some(b) => Redirect::to(&format!("/brands/{b}/inbox")).into_response(),
        None => {
            let c = Chrome::new(&headers, Some(&principal), "/".into());
            let text = c.t("no_brand").to_owned();
            message(c, StatusCode::OK, "inbox", text)
        }
    }
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// `GET /lang/{fr|en}?back=/path`: remembers the language in a cookie, back to the page.
async fn switch_lang(Path(code): Path<String>, Query(back): Query<Back>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // only a path of this site: never `//elsewhere` or `/\elsewhere`
    let back = back
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.starts_with("/\\"))
        .unwrap_or_else(|| "/".into());
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    let mut response = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

async fn inbox<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    q: Result<Query<InboxQuery>, QueryRejection>,
) -> Response {
    let at = (name.as_str(), "inbox");
    let page = BrandPage::open(&state, &headers, principal.as_ref(), at, raw.as_deref(), q);
    let BrandPage { c, brand, q, .. } = match page {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let now = Timestamp::now();
    let answer = match service::inbox(&state.store, &brand, &q, now).await {
        Ok(a) => a,
        Err(e) => return failure(c, e),
    };
    let v = InboxView::build(&c, &brand, &q, &answer, now);
    let partial = headers.contains_key("hx-request");
    let mut response = if partial {
        InboxList { c, v }.into_response()
    } else {
        InboxPage { c, v }.into_response()
    };
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("HX-Request, Cookie"));
    response
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn comment<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path((name, platform, id)): Path<(String, String, String)>,
    Query(done): Query<Done>,
) -> Response {
    let Some(principal) = principal else {
        return to_sign_in();
    };
    let path = format!("/brands/{name}/comments/{platform}/{id}");
    let c = Chrome::new(&headers, Some(&principal), path);
    let notice = done.done.map(|_| Notice {
        kind: "ok",
        text: c.t("done").to_owned(),
    });
    comment_page(
        &state,
        c,
        &principal,
        &name,
        &platform,
        id,
        StatusCode::OK,
        notice,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn comment_page<S: Store>(
    state: &ReviewState<S>,
    mut c: Chrome,
    principal: &Principal,
    name: &str,
    platform: &str,
    id: String,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let (brand, role) = match brand_of(state, principal, name) {
        Ok(b) => b,
        Err(e) => return failure(c, e),
    };
    c.brand = Some(brand.to_string());
    let key = match key_of(brand, platform, id) {
        Ok(k) => k,
        Err(e) => return failure(c, e),
    };
    let now = Timestamp::now();
    let detail = match service::detail(&state.store, &key, now).await {
        Ok(d) => d,
        Err(e) => return failure(c, e),
    };
    let v = CommentView::build(&c, &detail, role, state.drafts.is_some(), now);
    (status, CommentPage { c, v, notice }).into_response()
}

/// The command a comment page's form names.
fn command_of(fields: &std::collections::HashMap<String, String>) -> Result<Command, String> {
    let index = || {
        fields
            .get("index")
            .and_then(|i| i.parse::<usize>().ok())
            .ok_or_else(|| "index: a suggestion number is needed".to_owned())
    };
    let text = |k: &str| fields.get(k).cloned().unwrap_or_default();
    Ok(
        match fields.get("command").map(String::as_str).unwrap_or("") {
            "claim" => Command::Claim,
            "release" => Command::Release,
            "approve" => Command::Approve { index: index()? },
            "edit_and_approve" => Command::EditAndApprove {
                index: index()?,
                text: text("text"),
            },
            "reject" => Command::Reject {
                index: index()?,
                reason: text("reason"),
            },
            "regenerate" => Command::Regenerate,
            "mark_sent" => Command::MarkSent {
                platform_reply_id: text("platform_reply_id"),
            },
            "hide" => Command::Hide,
            "ignore" => Command::Ignore,
            "escalate" => Command::Escalate,
            other => return Err(format!("unknown command {other:?}")),
        },
    )
}

/// `POST /brands/{brand}/comments/{platform}/{id}/actions` (a form): the command through
/// [`service::act`], then back to the comment (303); a refusal shows the comment as it is
/// now with why, under the API's status (409, 403, 422, 400).
async fn act<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path((name, platform, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let Some(principal) = principal else {
        return to_sign_in();
    };
    let path = format!("/brands/{name}/comments/{platform}/{id}");
    let c = Chrome::new(&headers, Some(&principal), path.clone());
    let outcome = async {
        let (brand, role) = brand_of(&state, &principal, &name)?;
        let key = key_of(brand, &platform, id.clone())?;
        let fields = form(&body);
        let revision = fields
            .get("revision")
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| ApiError::BadRequest("revision: a number is needed".into()))?;
        let command = command_of(&fields).map_err(ApiError::BadRequest)?;
        let actor = Actor::new(principal.user.as_str(), role);
        service::act(
            &state.store,
            state.drafts.as_deref(),
            &key,
            &command,
            &actor,
            revision,
            Timestamp::now(),
        )
        .await
    }
    .await;
    let (status, text) = match outcome {
        Ok(review) => {
            let _ = review;
            return Redirect::to(&format!("{path}?done=1")).into_response();
        }
        Err(ApiError::Review(e)) => match &e {
            ReviewError::Conflict { .. } => (StatusCode::CONFLICT, c.t("conflict").to_owned()),
            ReviewError::ClaimedByOther { by, until } => (
                StatusCode::CONFLICT,
                format!(
                    "{} {by} ({} {})",
                    c.t("claimed_by_other"),
                    c.t("until"),
                    views::clock(*until)
                ),
            ),
            ReviewError::Forbidden { .. } => (StatusCode::FORBIDDEN, c.t("forbidden").to_owned()),
            ReviewError::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} {e}", c.t("invalid")),
            ),
        },
        Err(ApiError::BadRequest(m)) => (
            StatusCode::BAD_REQUEST,
            format!("{} {m}", c.t("bad_request")),
        ),
        Err(e) => return failure(c, e),
    };
    let notice = Some(Notice {
        kind: "error",
        text,
    });
    comment_page(&state, c, &principal, &name, &platform, id, status, notice).await
}

/// `POST /brands/{brand}/comments/{platform}/{id}/checks` (htmx, as the manager types):
/// the checks of the form's `text`, as the list under it.
async fn checks<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path((name, platform, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let Some(principal) = principal else {
        return to_sign_in();
    };
    let c = Chrome::new(&headers, Some(&principal), String::new());
    let outcome = async {
        let (brand, _) = brand_of(&state, &principal, &name)?;
        let key = key_of(brand, &platform, id)?;
        let text = form(&body).remove("text").unwrap_or_default();
        service::check_text(&state.store, state.speller.as_deref(), &key, &text).await
    }
    .await;
    match outcome {
        Ok(checks) => {
            let note = match (checks.content_version, checks.spelling_checked) {
                (None, _) => Some(c.t("no_content_to_check").to_owned()),
                (Some(_), false) => Some(c.t("spelling_not_here").to_owned()),
                _ => None,
            };
            let k = ChecksView::of(&checks.checks, note);
            ChecksFragment { c, k }.into_response()
        }
        Err(e) => failure(c, e),
    }
}

async fn reports<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    let at = (name.as_str(), "reports");
    let page = BrandPage::open(&state, &headers, principal.as_ref(), at, raw.as_deref(), q);
    let BrandPage { c, brand, q, .. } = match page {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let now = Timestamp::now();
    let period = match q.period(now) {
        Ok(p) => p,
        Err(e) => return failure(c, e),
    };
    match service::report(&state.store, &brand, period, now).await {
        Ok(report) => {
            let v = ReportView::build(&c, &brand, &q, &report, raw.as_deref());
            ReportsPage { c, v }.into_response()
        }
        Err(e) => failure(c, e),
    }
}

#[derive(Deserialize)]
struct Stored {
    stored: Option<u32>,
}

/// `GET /brands/{brand}/content[?version=N]`: the brand content editor (read-only but
/// for admins).
async fn content<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    q: Result<Query<ContentQuery>, QueryRejection>,
    Query(stored): Query<Stored>,
) -> Response {
    let at = (name.as_str(), "content");
    let page = BrandPage::open(&state, &headers, principal.as_ref(), at, raw.as_deref(), q);
    let BrandPage { c, brand, role, q } = match page {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let answer = match service::content(&state.store, &brand, q.version).await {
        Ok(a) => a,
        Err(e) => return failure(c, e),
    };
    let notice = stored.stored.map(|v| Notice {
        kind: "ok",
        text: format!("{} {v}.", c.t("content_stored")),
    });
    let v = ContentView::build(&c, &brand, &answer, &answer.files, role, None);
    ContentPage { c, v, notice }.into_response()
}

/// `POST /brands/{brand}/content` (the editor's form): the files through
/// [`service::put_content`], then back to the editor (303); a refusal shows the edited
/// files again with why, under the API's status (422, 409, 403).
async fn store_content<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    headers: HeaderMap,
    principal: Option<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(principal) = principal else {
        return to_sign_in();
    };
    let path = format!("/brands/{name}/content");
    let mut c = Chrome::new(&headers, Some(&principal), path.clone());
    let (brand, role) = match brand_of(&state, &principal, &name) {
        Ok(b) => b,
        Err(e) => return failure(c, e),
    };
    c.brand = Some(brand.to_string());
    let fields = form(&body);
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let files = vigie_core::content::ContentFiles {
        voice: field("voice"),
        replies: field("replies"),
        facts: field("facts"),
        words: field("words"),
        products: field("products"),
    };
    let expected = match field("expected_version").trim() {
        "" => None,
        v => match v.parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => {
                let e = ApiError::BadRequest("expected_version: a number is needed".into());
                return failure(c, e);
            }
        },
    };
    let actor = Actor::new(principal.user.as_str(), role);
    let outcome = service::put_content(
        &state.store,
        state.embedder.as_deref(),
        &brand,
        &files,
        expected,
        &actor,
        Timestamp::now(),
    )
    .await;
    let (status, text, invalid_file) = match outcome {
        Ok(stored) => {
            let version = stored.version.unwrap_or_default();
            return Redirect::to(&format!("{path}?stored={version}")).into_response();
        }
        Err(ApiError::InvalidContent(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} {e}", c.t("content_invalid")),
            Some(e.file.clone()),
        ),
        Err(ApiError::StaleContent { current }) => (
            StatusCode::CONFLICT,
            format!(
                "{} {}.",
                c.t("content_conflict"),
                current.map(|v| v.to_string()).unwrap_or_default()
            ),
            None,
        ),
        Err(e) => return failure(c, e),
    };
    // the edit comes back as it was typed, to fix; the version it starts from is the
    // current one after a conflict (saving again then overwrites knowingly)
    let answer = match service::content(&state.store, &brand, None).await {
        Ok(a) => a,
        Err(e) => return failure(c, e),
    };
    let v = ContentView::build(&c, &brand, &answer, &files, role, invalid_file.as_deref());
    let notice = Some(Notice {
        kind: "error",
        text,
    });
    (status, ContentPage { c, v, notice }).into_response()
}

const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const APP_JS: &[u8] = include_bytes!("../../assets/app.js");
const APP_CSS: &[u8] = include_bytes!("../../assets/app.css");

/// `GET /assets/{name}`: the page's scripts and style, from the binary, cached for a year
/// (their URLs change with the release).
async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (CONTENT_TYPE, kind),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Every page's headers: no other origin, no caching of a signed-in page, no sniffing.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let html = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// The page's routes, to merge into the review router (state: the review's).
pub fn routes<S: Store>() -> Router<Arc<ReviewState<S>>> {
    let pages = Router::new()
        .route("/", get(home::<S>))
        .route("/sign-in", get(sign_in_page).post(sign_in::<S>))
        .route("/sign-out", post(sign_out::<S>))
        .route("/lang/{lang}", get(switch_lang))
        .route("/brands/{brand}/inbox", get(inbox::<S>))
        .route(
            "/brands/{brand}/comments/{platform}/{id}",
            get(comment::<S>),
        )
        .route(
            "/brands/{brand}/comments/{platform}/{id}/actions",
            post(act::<S>),
        )
        .route(
            "/brands/{brand}/comments/{platform}/{id}/checks",
            post(checks::<S>),
        )
        .route("/brands/{brand}/reports", get(reports::<S>))
        .route(
            "/brands/{brand}/content",
            get(content::<S>).post(store_content::<S>),
        )
        .layer(axum::middleware::map_response(page_headers));
    pages.route("/assets/{name}", get(asset))
}
