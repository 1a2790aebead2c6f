//! The review API's JSON routes, brand by brand. Every route needs a signed-in user (401
//! otherwise, the same answer whatever the path), and a brand that is not the user's
//! answers exactly as a brand or comment that does not exist (404).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigie_core::comment::{BrandId, Comment, CommentKey, Platform, Sentiment};
use vigie_core::drafts::Drafts;
use vigie_core::inbox::{Assignee, InboxCounts, InboxCursor, InboxFacets, InboxFilter};
use vigie_core::reports::{Day, Period, Report};
use vigie_core::review::{AuditRecord, Command, Review, ReviewStatus, Role};
use vigie_core::time::Timestamp;
use vigie_core::understanding::Intent;

use crate::auth::Signed;
use crate::service::{self, Store};
use crate::{ApiError, ReviewState};

/// The brand a signed-in user asked for, with their role there; 404 when it is not theirs
/// or does not exist, alike.
pub(crate) fn brand_of<S>(
    state: &ReviewState<S>,
    principal: &crate::auth::Principal,
    name: &str,
) -> Result<(BrandId, Role), ApiError> {
    let brand = BrandId::parse(name).map_err(|_| ApiError::NotFound)?;
    if state.brands.get(&brand).is_none() {
        return Err(ApiError::NotFound);
    }
    let role = principal.role(&brand).ok_or(ApiError::NotFound)?;
    Ok((brand, role))
}

#[derive(Deserialize, Default)]
pub struct InboxQuery {
    pub platform: Option<String>,
    pub sentiment: Option<String>,
    pub intent: Option<String>,
    pub sla_breached: Option<bool>,
    /// Comma-separated review statuses.
    pub status: Option<String>,
    /// A user name, or `none`.
    pub assignee: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

impl InboxQuery {
    /// The filter it names, or what is wrong with it.
    pub fn filter(&self) -> Result<InboxFilter, ApiError> {
        let bad = |what: &str, v: &str| ApiError::BadRequest(format!("unknown {what} {v:?}"));
        let none_if_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(InboxFilter {
            platform: none_if_empty(&self.platform)
                .map(|p| Platform::parse(&p).map_err(|_| bad("platform", &p)))
                .transpose()?,
            sentiment: none_if_empty(&self.sentiment)
                .map(|s| Sentiment::parse(&s).ok_or_else(|| bad("sentiment", &s)))
                .transpose()?,
            intent: none_if_empty(&self.intent)
                .map(|i| Intent::parse(&i).ok_or_else(|| bad("intent", &i)))
                .transpose()?,
            sla_breached: self.sla_breached,
            statuses: none_if_empty(&self.status)
                .map(|list| {
                    list.split(',')
                        .map(|s| ReviewStatus::parse(s.trim()).ok_or_else(|| bad("status", s)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            assignee: none_if_empty(&self.assignee).map(|a| Assignee::parse(&a)),
        })
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if (1..=200).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::BadRequest("limit must be 1-200".into()))
        }
    }
}

/// One line of the inbox as the API shows it.
#[derive(Serialize)]
pub struct InboxLine {
    pub comment: Comment,
    pub facets: InboxFacets,
    pub sla_breached: bool,
    /// Who holds a live claim.
    pub assignee: Option<String>,
}

#[derive(Serialize)]
pub struct InboxAnswer {
    pub items: Vec<InboxLine>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next: Option<String>,
    pub counts: InboxCounts,
}

/// `GET /api/brands/{brand}/comments`: the inbox, most urgent then oldest first.
pub async fn inbox<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Json<InboxAnswer>, ApiError> {
    let (brand, _) = brand_of(&state, &principal, &name?.0)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let answer = service::inbox(&state.store, &brand, &q, now).await?;
    Ok(Json(answer))
}

/// A comment with everything a manager needs to decide.
#[derive(Serialize)]
pub struct CommentDetail {
    #[serde(flatten)]
    pub comment: Comment,
    /// The thread it belongs to, oldest first (itself included).
    pub thread: Vec<Comment>,
    /// vigie's proposal for this version; `None` until drafted (or without brand content).
    pub drafts: Option<Drafts>,
    /// The review to act on: send its `revision` with a command.
    pub review: Review,
    /// Every change made to the review, oldest first.
    pub audit: Vec<AuditRecord>,
    /// The longest reply the brand sends on this platform (characters: its voice
    /// profile's `reply_length`, else the platform's limit).
    pub reply_limit: usize,
}

pub(crate) fn key_of(brand: BrandId, platform: &str, id: String) -> Result<CommentKey, ApiError> {
    // an unknown platform names no comment: the same 404 as a missing one
    let platform = Platform::parse(platform).map_err(|_| ApiError::NotFound)?;
    CommentKey::new(brand, platform, id).map_err(|_| ApiError::NotFound)
}

/// `GET /api/brands/{brand}/comments/{platform}/{id}`.
pub async fn comment<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<CommentDetail>, ApiError> {
    let Path((name, platform, id)) = path?;
    let (brand, _) = brand_of(&state, &principal, &name)?;
    let key = key_of(brand, &platform, id)?;
    Ok(Json(
        service::detail(&state.store, &key, Timestamp::now()).await?,
    ))
}

/// A command with the review revision it was decided on.
#[derive(Deserialize)]
pub struct Act {
    pub revision: u64,
    #[serde(flatten)]
    pub command: Command,
}

/// `POST /api/brands/{brand}/comments/{platform}/{id}/actions`: `{"revision": 3,
/// "command": "approve", "index": 0}`. 200 with the review after the change; 409 with the
/// current review when it changed since `revision`, or while another user's claim holds;
/// 403 for a viewer; 422 for a move the review cannot make.
pub async fn act<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<Act>, JsonRejection>,
) -> Result<Json<Review>, ApiError> {
    let Path((name, platform, id)) = path?;
    let (brand, role) = brand_of(&state, &principal, &name)?;
    let key = key_of(brand, &platform, id)?;
    let Json(act) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let actor = vigie_core::review::Actor::new(principal.user.as_str(), role);
    let review = service::act(
        &state.store,
        state.drafts.as_deref(),
        &key,
        &act.command,
        &actor,
        act.revision,
        Timestamp::now(),
    )
    .await?;
    Ok(Json(review))
}

#[derive(Deserialize)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD`; default: 27 days before `to`.
    pub from: Option<String>,
    /// Last day (inclusive); default: today.
    pub to: Option<String>,
    /// The brand's offset from UTC in minutes (e.g. 60 for Paris in winter); default 0.
    pub utc_offset: Option<i32>,
}

impl ReportQuery {
    pub(crate) fn period(&self, now: Timestamp) -> Result<Period, ApiError> {
        let offset = self.utc_offset.unwrap_or(0);
        let bad = |e: vigie_core::reports::ReportError| ApiError::BadRequest(e.to_string());
        let to = match &self.to {
            Some(d) => Day::parse(d).map_err(bad)?,
            None => Day::of(now, offset),
        };
        let from = match &self.from {
            Some(d) => Day::parse(d).map_err(bad)?,
            None => Day::of(to.start(offset).plus_millis(-27 * 86_400_000), offset),
        };
        Period::new(from, to, offset).map_err(bad)
    }
}

/// `GET /api/brands/{brand}/reports`: the management report of a period.
pub async fn report<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let (brand, _) = brand_of(&state, &principal, &name?.0)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let period = q.period(now)?;
    Ok(Json(
        service::report(&state.store, &brand, period, now).await?,
    ))
}

/// `GET /api/brands/{brand}/reports.csv`: the same report, a row per day.
pub async fn report_csv<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (brand, _) = brand_of(&state, &principal, &name?.0)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let period = q.period(now)?;
    let report = service::report(&state.store, &brand, period, now).await?;
    let file = format!(
        "attachment; filename=\"vigie-{brand}-{}-{}.csv\"",
        report.period.from(),
        report.period.to()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        report.to_csv(),
    )
        .into_response())
}

/// A cursor from the query, for this brand.
pub(crate) fn cursor(brand: &BrandId, q: &InboxQuery) -> Result<Option<InboxCursor>, ApiError> {
    q.cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| InboxCursor::decode(brand, c).map_err(|e| ApiError::BadRequest(e.to_string())))
        .transpose()
}

#[derive(Deserialize)]
pub struct ContentQuery {
    /// An earlier version; default: the current one.
    pub version: Option<u32>,
}

/// `GET /api/brands/{brand}/content[?version=N]`: the brand's content as its files.
pub async fn content<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ContentQuery>, QueryRejection>,
) -> Result<Json<service::ContentAnswer>, ApiError> {
    let (brand, _) = brand_of(&state, &principal, &name?.0)?;
    let Query(q) = q?;
    Ok(Json(
        service::content(&state.store, &brand, q.version).await?,
    ))
}

/// An edit of the brand's content: every file, and the version it started from.
#[derive(Deserialize)]
pub struct ContentEdit {
    /// `null` when the brand has no content yet.
    pub expected_version: Option<u32>,
    pub files: vigie_core::content::ContentFiles,
}

/// `PUT /api/brands/{brand}/content`: `{"expected_version": 3, "files": {"voice": ...,
/// "replies": ..., "facts": ..., "words": ..., "products": ...}}`, admins only (403).
/// 200 with the stored version; 422 naming the file, line and field that
/// `vigie brand import` would refuse; 409 when another version was stored since.
pub async fn put_content<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<ContentEdit>, JsonRejection>,
) -> Result<Json<service::ContentAnswer>, ApiError> {
    let (brand, role) = brand_of(&state, &principal, &name?.0)?;
    let Json(edit) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let actor = vigie_core::review::Actor::new(principal.user.as_str(), role);
    Ok(Json(
        service::put_content(
            &state.store,
            state.embedder.as_deref(),
            &brand,
            &edit.files,
            edit.expected_version,
            &actor,
            Timestamp::now(),
        )
        .await?,
    ))
}

#[derive(Deserialize)]
pub struct CheckText {
    pub text: String,
}

/// `POST /api/brands/{brand}/comments/{platform}/{id}/checks`: `{"text": "..."}`, the
/// drafting checks on a reply text for this comment (any role: it changes nothing).
pub async fn checks<S: Store>(
    State(state): State<Arc<ReviewState<S>>>,
    Signed(principal): Signed,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<CheckText>, JsonRejection>,
) -> Result<Json<service::TextChecks>, ApiError> {
    let Path((name, platform, id)) = path?;
    let (brand, _) = brand_of(&state, &principal, &name)?;
    let key = key_of(brand, &platform, id)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(
        service::check_text(&state.store, state.speller.as_deref(), &key, &body.text).await?,
    ))
}
