//! What the templates show, made from the service's answers: strings and numbers ready to
//! print, so that the templates hold no logic beyond loops and conditions.

use vigie_core::comment::{BrandId, Comment, Sentiment};
use vigie_core::review::{ReviewStatus, Role, SuggestionStatus};
use vigie_core::time::Timestamp;

use super::Chrome;
use crate::api::{CommentDetail, InboxAnswer, InboxQuery, ReportQuery};
use vigie_core::reports::Report;

/// `s` percent-encoded for a query string value.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A time as `YYYY-MM-DD HH:MM UTC`.
pub fn clock(t: Timestamp) -> String {
    let s = t.rfc3339();
    match (s.get(..10), s.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => s,
    }
}

/// A duration in minutes, hours and days: `25 min`, `1 h 05`, `3 d 4 h`.
fn span(ms: i64) -> String {
    let minutes = (ms / 60_000).max(0);
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {:02}", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
}

fn excerpt(c: &Comment, chars: usize) -> String {
    let text = c.text.as_ref().map_or("", |t| t.as_str());
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().count() > chars {
        out.push('…');
    }
    out
}

fn sentiment_key(s: Option<Sentiment>) -> &'static str {
    s.map_or("unknown", |s| s.as_str())
}

fn reason_names(c: &Comment) -> Vec<String> {
    c.triage
        .as_ref()
        .map(|t| {
            t.urgency
                .reasons
                .iter()
                .map(|r| {
                    let signal = serde_json::to_value(r.signal)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                        .replace('_', " ");
                    if r.evidence.is_empty() {
                        format!("{signal} (+{})", r.points)
                    } else {
                        format!("{signal} (+{}): {}", r.points, r.evidence)
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub struct Row {
    pub href: String,
    pub excerpt: String,
    pub author: String,
    pub platform: String,
    pub score: u8,
    pub tier: String,
    /// `high`, `mid` or `low`, for the badge's colour.
    pub level: &'static str,
    pub sentiment: &'static str,
    pub intent: String,
    pub reasons: Vec<String>,
    pub sla: Option<String>,
    pub overdue: bool,
    pub assignee: Option<String>,
    pub status: String,
    pub received: String,
    /// A private message: its answer goes back privately.
    pub private: bool,
}

pub struct Choice {
    pub label: String,
    pub count: u64,
    pub href: String,
    pub active: bool,
}

pub struct Facet {
    /// The catalogue key of its name.
    pub name: &'static str,
    pub choices: Vec<Choice>,
}

pub struct InboxView {
    pub brand: String,
    pub rows: Vec<Row>,
    pub facets: Vec<Facet>,
    pub matching: u64,
    pub next: Option<String>,
    pub first: Option<String>,
    /// This page's URL (the refresh).
    pub this: String,
}

impl InboxView {
    pub fn build(
        c: &Chrome,
        brand: &BrandId,
        q: &InboxQuery,
        answer: &InboxAnswer,
        now: Timestamp,
    ) -> Self {
        let base = format!("/brands/{brand}/inbox");
        let params: Vec<(&'static str, String)> = [
            ("platform", q.platform.clone()),
            ("sentiment", q.sentiment.clone()),
            ("intent", q.intent.clone()),
            ("sla_breached", q.sla_breached.map(|b| b.to_string())),
            ("status", q.status.clone()),
            ("assignee", q.assignee.clone()),
            ("limit", q.limit.map(|l| l.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        let link = |set: Option<(&str, &str)>, cursor: Option<&str>| {
            let mut parts: Vec<String> = params
                .iter()
                .filter(|(k, _)| set.is_none_or(|(s, _)| s != *k))
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            if let Some((k, v)) = set.filter(|(_, v)| !v.is_empty()) {
                parts.push(format!("{k}={}", encode(v)));
            }
            if let Some(cursor) = cursor {
                parts.push(format!("cursor={}", encode(cursor)));
            }
            if parts.is_empty() {
                base.clone()
            } else {
                format!("{base}?{}", parts.join("&"))
            }
        };
        let current = |k: &str| {
            params
                .iter()
                .find(|(p, _)| *p == k)
                .map(|(_, v)| v.as_str())
        };
        let counts = &answer.counts;
        let facet = |name: &'static str,
                     param: &'static str,
                     map: &std::collections::BTreeMap<String, u64>,
                     label: &dyn Fn(&str) -> String| {
            let mut choices = vec![Choice {
                label: c.t("all").to_owned(),
                count: map.values().sum(),
                href: link(Some((param, "")), None),
                active: current(param).is_none(),
            }];
            for (value, count) in map {
                // "none" is a value of the assignee filter only
                if value == "none" && param != "assignee" {
                    continue;
                }
                choices.push(Choice {
                    label: label(value),
                    count: *count,
                    href: link(Some((param, value)), None),
                    active: current(param) == Some(value.as_str()),
                });
            }
            Facet { name, choices }
        };
        let plain = |v: &str| v.replace('_', " ");
        let translated = |v: &str| c.t(v).to_owned();
        let assignee = |v: &str| {
            if v == "none" {
                c.t("nobody").to_owned()
            } else {
                v.to_owned()
            }
        };
        let yes_no = |v: &str| c.t(if v == "true" { "yes" } else { "no" }).to_owned();
        let facets = vec![
            facet("platform", "platform", &counts.platform, &plain),
            facet("sentiment", "sentiment", &counts.sentiment, &translated),
            facet("intent", "intent", &counts.intent, &plain),
            facet("status", "status", &counts.status, &plain),
            facet("assignee", "assignee", &counts.assignee, &assignee),
            facet(
                "sla_breached",
                "sla_breached",
                &counts.sla_breached,
                &yes_no,
            ),
        ];
        let rows = answer
            .items
            .iter()
            .map(|line| {
                let comment = &line.comment;
                let f = &line.facets;
                let urgency = comment.triage.as_ref().map(|t| &t.urgency);
                let (sla, overdue) = match f.sla_due {
                    Some(due) if due.millis() <= now.millis() => (
                        Some(format!(
                            "{} ({})",
                            c.t("overdue"),
                            span(now.millis() - due.millis())
                        )),
                        true,
                    ),
                    Some(due) => (
                        Some(format!(
                            "{} {}",
                            c.t("due_in"),
                            span(due.millis() - now.millis())
                        )),
                        false,
                    ),
                    None => (None, false),
                };
                Row {
                    href: format!(
                        "/brands/{brand}/comments/{}/{}",
                        comment.key.platform,
                        encode(&comment.key.external_id)
                    ),
                    excerpt: excerpt(comment, 160),
                    author: comment
                        .author
                        .name
                        .clone()
                        .unwrap_or_else(|| comment.author.id.clone()),
                    platform: f.platform.to_string(),
                    private: comment.private,
                    score: f.urgency,
                    tier: urgency.and_then(|u| u.tier.clone()).unwrap_or_default(),
                    level: match f.urgency {
                        u if u >= 70 => "high",
                        u if u >= 40 => "mid",
                        _ => "low",
                    },
                    sentiment: sentiment_key(f.sentiment),
                    intent: f.intent.map(|i| plain(i.as_str())).unwrap_or_default(),
                    reasons: reason_names(comment),
                    sla,
                    overdue,
                    assignee: line.assignee.clone(),
                    status: plain(f.status.as_str()),
                    received: clock(comment.received_at),
                }
            })
            .collect();
        InboxView {
            brand: brand.to_string(),
            rows,
            facets,
            matching: counts.matching,
            next: answer.next.as_deref().map(|n| link(None, Some(n))),
            first: q
                .cursor
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(|_| link(None, None)),
            this: link(None, q.cursor.as_deref().filter(|c| !c.is_empty())),
        }
    }
}

pub struct CheckView {
    pub check: String,
    pub detail: String,
}

pub struct SuggestionView {
    pub index: usize,
    pub status: String,
    pub text: String,
    pub engine: String,
    pub edited: bool,
    pub reject_reason: Option<String>,
    pub checks: ChecksView,
    /// Approving, editing or rejecting it is possible.
    pub open: bool,
    pub chars: usize,
}

pub struct ThreadItem {
    pub author: String,
    pub text: String,
    pub received: String,
    pub this: bool,
}

pub struct AuditView {
    pub at: String,
    pub by: String,
    pub action: String,
    pub change: String,
    pub detail: String,
}

pub struct CommentView {
    pub action_url: String,
    /// Where the page sends an edited text for its checks.
    pub checks_url: String,
    pub inbox_url: String,
    pub platform: String,
    /// A private message: its answer goes back privately.
    pub private: bool,
    pub text: String,
    pub author: String,
    pub received: String,
    pub permalink: Option<String>,
    pub sentiment: Option<String>,
    pub sentiment_scores: Option<String>,
    pub intent: Option<String>,
    pub score: Option<u8>,
    pub tier: String,
    pub reasons: Vec<String>,
    pub thread: Vec<ThreadItem>,
    pub status: String,
    pub revision: u64,
    pub claim: Option<String>,
    pub sent: Option<String>,
    pub suggestions: Vec<SuggestionView>,
    pub drafted_as: Option<String>,
    pub limit: usize,
    /// The user may act (not a viewer) and the review is not final.
    pub can_act: bool,
    /// And new drafts can be asked for (the deployment has a draft queue).
    pub can_regenerate: bool,
    pub claimed: bool,
    pub approved: bool,
    pub audit: Vec<AuditView>,
}

impl CommentView {
    pub fn build(
        c: &Chrome,
        d: &CommentDetail,
        role: Role,
        can_regenerate: bool,
        now: Timestamp,
    ) -> Self {
        let comment = &d.comment;
        let review = &d.review;
        let author = |x: &Comment| x.author.name.clone().unwrap_or_else(|| x.author.id.clone());
        let triage = comment.triage.as_ref();
        let can_act = role != Role::Viewer && !review.status.is_final();
        let suggestions = review
            .suggestions
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let checks = d
                    .drafts
                    .as_ref()
                    .and_then(|dr| dr.suggestions.get(index))
                    .map(|s| s.checks.as_slice())
                    .unwrap_or_default();
                SuggestionView {
                    index,
                    status: s.status.as_str().replace('_', " "),
                    text: s.text.clone(),
                    engine: s.engine.clone(),
                    edited: s.edited,
                    reject_reason: s.reject_reason.clone(),
                    checks: ChecksView::of(checks, None),
                    open: can_act
                        && matches!(
                            s.status,
                            SuggestionStatus::Proposed
                                | SuggestionStatus::Edited
                                | SuggestionStatus::Approved
                        ),
                    chars: s.text.chars().count(),
                }
            })
            .collect();
        let brand = comment.key.brand.to_string();
        let base = format!(
            "/brands/{brand}/comments/{}/{}",
            comment.key.platform,
            encode(&comment.key.external_id)
        );
        CommentView {
            action_url: format!("{base}/actions"),
            checks_url: format!("{base}/checks"),
            inbox_url: format!("/brands/{brand}/inbox"),
            platform: comment.key.platform.to_string(),
            private: comment.private,
            text: comment
                .text
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            author: author(comment),
            received: clock(comment.received_at),
            permalink: comment
                .permalink
                .clone()
                .filter(|p| p.starts_with("https://")),
            sentiment: triage
                .and_then(|t| t.sentiment.as_ref())
                .map(|s| c.t(s.label.as_str()).to_owned()),
            sentiment_scores: triage.and_then(|t| t.sentiment.as_ref()).map(|s| {
                format!(
                    "{} {:.2} · {} {:.2} · {} {:.2}",
                    c.t("negative"),
                    s.negative,
                    c.t("neutral"),
                    s.neutral,
                    c.t("positive"),
                    s.positive
                )
            }),
            intent: triage.and_then(|t| t.understanding.as_ref()).map(|u| {
                format!(
                    "{} ({:.0} %)",
                    u.intent.as_str().replace('_', " "),
                    u.intent_probability * 100.0
                )
            }),
            score: triage.map(|t| t.urgency.score),
            tier: triage
                .and_then(|t| t.urgency.tier.clone())
                .unwrap_or_default(),
            reasons: reason_names(comment),
            thread: d
                .thread
                .iter()
                .map(|t| ThreadItem {
                    author: author(t),
                    text: t
                        .text
                        .as_ref()
                        .map(|x| x.as_str().to_owned())
                        .unwrap_or_default(),
                    received: clock(t.received_at),
                    this: t.key == comment.key,
                })
                .collect(),
            status: review.status.as_str().replace('_', " "),
            revision: review.revision,
            claim: review.live_claim(now).map(|cl| {
                format!(
                    "{} {} ({} {})",
                    c.t("claimed_by"),
                    cl.by,
                    c.t("until"),
                    clock(cl.until)
                )
            }),
            claimed: review.live_claim(now).is_some(),
            sent: review.sent.as_ref().map(|s| {
                format!(
                    "{} {} · {} · {}",
                    s.by,
                    clock(s.at),
                    s.platform_reply_id,
                    s.text
                )
            }),
            suggestions,
            drafted_as: d.drafts.as_ref().map(|dr| {
                format!(
                    "{} · {}",
                    dr.action.as_str().replace('_', " "),
                    dr.action_reason
                )
            }),
            limit: d.reply_limit,
            can_regenerate: can_act && can_regenerate,
            can_act,
            approved: review.approved().is_some() && review.status != ReviewStatus::Replied,
            audit: d
                .audit
                .iter()
                .map(|a| AuditView {
                    at: clock(a.at),
                    by: format!("{} ({})", a.by, a.role),
                    action: a.action.as_str().replace('_', " "),
                    change: format!("{} → {}", a.from_status, a.to_status),
                    detail: [
                        a.suggestion.map(|i| format!("#{}", i + 1)),
                        a.text_after.clone(),
                        a.reason.clone(),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · "),
                })
                .collect(),
        }
    }
}

pub struct IntentLine {
    pub intent: String,
    pub count: u32,
}

pub struct ReportView {
    pub from: String,
    pub to: String,
    pub utc_offset: i32,
    pub volume: u32,
    pub urgent: u32,
    pub sla_breaches: u32,
    pub replied: u32,
    pub median: Option<String>,
    pub unedited: Option<String>,
    pub intents: Vec<IntentLine>,
    pub spikes: Vec<String>,
    pub chart: String,
    pub csv: String,
    pub action: String,
}

impl ReportView {
    pub fn build(
        c: &Chrome,
        brand: &BrandId,
        q: &ReportQuery,
        r: &Report,
        raw: Option<&str>,
    ) -> Self {
        let t = &r.totals;
        ReportView {
            from: r.period.from().to_string(),
            to: r.period.to().to_string(),
            utc_offset: q.utc_offset.unwrap_or(0),
            volume: t.volume,
            urgent: t.urgent,
            sla_breaches: t.sla_breaches,
            replied: t.replied,
            median: t
                .median_minutes_to_first_response
                .map(|m| format!("{m:.0}")),
            unedited: t.sent_unedited_share.map(|s| format!("{:.0} %", s * 100.0)),
            intents: t
                .top_intents
                .iter()
                .map(|i| IntentLine {
                    intent: i.intent.as_str().replace('_', " "),
                    count: i.count,
                })
                .collect(),
            spikes: r
                .spikes
                .iter()
                .map(|s| {
                    format!(
                        "{}: {} {}, {} {:.0}",
                        s.day,
                        s.negatives,
                        c.t("negatives"),
                        c.t("usually"),
                        s.baseline
                    )
                })
                .collect(),
            chart: super::chart::stacked_bars(c, &r.days),
            csv: match raw.filter(|q| !q.is_empty()) {
                Some(q) => format!("/api/brands/{brand}/reports.csv?{q}"),
                None => format!("/api/brands/{brand}/reports.csv"),
            },
            action: format!("/brands/{brand}/reports"),
        }
    }
}

/// One file of the brand content editor.
pub struct ContentFileView {
    /// The form field and the element id (`voice`, `replies`, ...).
    pub field: &'static str,
    /// The file name shown (`voice.toml`, ...).
    pub name: &'static str,
    pub text: String,
    pub rows: usize,
    /// The error is about this file.
    pub invalid: bool,
}

/// The brand content editor: a version's files, editable by admins.
pub struct ContentView {
    pub brand: String,
    pub action: String,
    /// What the page says of the version shown.
    pub version_line: String,
    /// Set when an earlier version is shown: a link back to the current one.
    pub current_link: Option<String>,
    /// The version an edit starts from (`""`: none stored yet).
    pub expected: String,
    pub files: Vec<ContentFileView>,
    pub editable: bool,
    pub submit: String,
    /// Earlier versions, newest first, as (label, link).
    pub history: Vec<(String, String)>,
    pub unembedded: usize,
}

impl ContentView {
    /// `shown`: the files on the page (the stored version's, or an edit sent back with
    /// its error); `invalid_file`: the file an error names.
    pub fn build(
        c: &Chrome,
        brand: &BrandId,
        answer: &crate::service::ContentAnswer,
        shown: &vigie_core::content::ContentFiles,
        role: Role,
        invalid_file: Option<&str>,
    ) -> Self {
        let base = format!("/brands/{brand}/content");
        let latest = answer.latest;
        let version_line = match (answer.version, &answer.updated_by, answer.updated_at) {
            (Some(v), Some(by), Some(at)) => format!(
                "{} {v} · {} {by} · {}",
                c.t("version"),
                c.t("stored_by"),
                clock(at)
            ),
            _ => c.t("no_content").to_owned(),
        };
        let earlier = answer.version.is_some() && answer.version != latest;
        let next = latest.map_or(1, |l| l + 1);
        let texts = [
            ("voice", "voice.toml", &shown.voice),
            ("replies", "replies.toml", &shown.replies),
            ("facts", "facts.toml", &shown.facts),
            ("words", "words.txt", &shown.words),
            ("products", "products.txt", &shown.products),
        ];
        let files = texts
            .into_iter()
            .map(|(field, name, text)| ContentFileView {
                field,
                name,
                rows: text.lines().count().clamp(4, 30),
                text: text.clone(),
                invalid: invalid_file == Some(name),
            })
            .collect();
        let history = latest
            .map(|l| {
                (l.saturating_sub(10).max(1)..l)
                    .rev()
                    .map(|v| {
                        (
                            format!("{} {v}", c.t("version")),
                            format!("{base}?version={v}"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            brand: brand.to_string(),
            action: base.clone(),
            version_line,
            current_link: earlier.then(|| base.clone()),
            expected: latest.map(|l| l.to_string()).unwrap_or_default(),
            files,
            editable: role >= Role::Admin,
            submit: if earlier {
                format!("{} {next}", c.t("restore_as_version"))
            } else {
                format!("{} {next}", c.t("store_as_version"))
            },
            history,
            unembedded: answer.replies_without_embedding,
        }
    }
}

/// The checks a reply text passed and failed, as the page lists them under the text.
pub struct ChecksView {
    pub failed: Vec<CheckView>,
    pub passed: usize,
    /// Said under the list (a check that could not run here).
    pub note: Option<String>,
}

impl ChecksView {
    pub fn of(checks: &[vigie_core::drafts::CheckOutcome], note: Option<String>) -> Self {
        Self {
            failed: checks
                .iter()
                .filter(|k| !k.passed)
                .map(|k| CheckView {
                    check: k.check.replace('_', " "),
                    detail: k.detail.clone(),
                })
                .collect(),
            passed: checks.iter().filter(|k| k.passed).count(),
            note,
        }
    }
}
