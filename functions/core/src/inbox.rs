//! The managers' inbox: a brand's triaged comments as a work queue, most urgent first, then
//! oldest first (the one waiting longest at a given urgency is answered first), with the
//! filters a community manager uses all day and the count behind each filter value.
//!
//! What a store indexes for a comment is its [`InboxFacets`], computed here from the
//! comment and its review so that every adapter files a comment the same way. A comment
//! whose review is replied or withdrawn leaves the inbox; one that is hidden, ignored or
//! escalated stays findable with the status filter.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::comment::{Comment, CommentKey, CommentState, InvalidValue, Platform, Sentiment};
use crate::review::{Review, ReviewStatus};
use crate::time::Timestamp;
use crate::understanding::Intent;

/// The statuses shown when the filter names none: what still needs someone.
pub const OPEN: &[ReviewStatus] = &[ReviewStatus::New, ReviewStatus::InProgress];

/// The statuses a comment is in the inbox with (replied and withdrawn ones have left it).
pub const LISTED: &[ReviewStatus] = &[
    ReviewStatus::New,
    ReviewStatus::InProgress,
    ReviewStatus::Hidden,
    ReviewStatus::Ignored,
    ReviewStatus::Escalated,
];

/// What the inbox files a comment under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxFacets {
    pub urgency: u8,
    pub platform: Platform,
    /// `None` for a comment without text.
    pub sentiment: Option<Sentiment>,
    pub intent: Option<Intent>,
    /// When the brand's tier for this urgency wants an answer by.
    pub sla_due: Option<Timestamp>,
    pub status: ReviewStatus,
    /// The last claim's holder and end (it may have expired).
    pub claimed_by: Option<String>,
    pub claimed_until: Option<Timestamp>,
}

impl InboxFacets {
    /// The facets of a triaged comment and its review (`None`: not in the inbox, because
    /// it is not triaged, or deleted). A review of an earlier version of the comment does
    /// not count: the new version is new.
    pub fn of(comment: &Comment, review: Option<&Review>) -> Option<Self> {
        let urgency = comment.open_urgency()?;
        let triage = comment.triage.as_ref()?;
        let review = review.filter(|r| r.comment_version == comment.version);
        let claim = review.and_then(|r| r.claim.as_ref());
        Some(Self {
            urgency,
            platform: comment.key.platform,
            sentiment: triage.sentiment.as_ref().map(|s| s.label),
            intent: triage.understanding.as_ref().map(|u| u.intent),
            sla_due: triage
                .urgency
                .respond_within_minutes
                .map(|m| comment.received_at.plus_millis(i64::from(m) * 60_000)),
            status: review.map_or(ReviewStatus::New, |r| r.status),
            claimed_by: claim.map(|c| c.by.clone()),
            claimed_until: claim.map(|c| c.until),
        })
    }

    /// The user whose claim holds at `now`.
    pub fn assignee(&self, now: Timestamp) -> Option<&str> {
        match (&self.claimed_by, self.claimed_until) {
            (Some(by), Some(until)) if now < until => Some(by),
            _ => None,
        }
    }

    /// Past due and not answered at `now` (the inbox holds no replied comment); an answer
    /// at the due instant is on time.
    pub fn sla_breached(&self, now: Timestamp) -> bool {
        self.sla_due.is_some_and(|due| due < now)
    }

    /// What the filters see of it at `now`.
    pub fn at(&self, now: Timestamp) -> FacetValues {
        FacetValues {
            platform: self.platform,
            sentiment: self.sentiment,
            intent: self.intent,
            status: self.status,
            assignee: self.assignee(now).map(str::to_owned),
            sla_breached: self.sla_breached(now),
        }
    }
}

/// A comment's facets at one instant: what filters and counts look at (a store that
/// groups in its query hands these over with a count).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FacetValues {
    pub platform: Platform,
    pub sentiment: Option<Sentiment>,
    pub intent: Option<Intent>,
    pub status: ReviewStatus,
    /// Who holds a live claim.
    pub assignee: Option<String>,
    pub sla_breached: bool,
}

/// Whose comments to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// Nobody holds a live claim.
    Nobody,
    User(String),
}

impl Assignee {
    /// `none` or a user name.
    pub fn parse(s: &str) -> Self {
        if s == "none" {
            Assignee::Nobody
        } else {
            Assignee::User(s.to_owned())
        }
    }
}

/// Which comments to list; every field left empty lists the open ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub platform: Option<Platform>,
    pub sentiment: Option<Sentiment>,
    pub intent: Option<Intent>,
    pub sla_breached: Option<bool>,
    /// Empty: [`OPEN`].
    pub statuses: Vec<ReviewStatus>,
    pub assignee: Option<Assignee>,
}

impl InboxFilter {
    /// The statuses listed, [`OPEN`] when none is named.
    pub fn statuses(&self) -> &[ReviewStatus] {
        if self.statuses.is_empty() {
            OPEN
        } else {
            &self.statuses
        }
    }

    /// Whether an entry passes, leaving out the facet `except` (for the counts of that
    /// facet's values).
    pub fn admits(&self, f: &FacetValues, except: Option<Facet>) -> bool {
        let on = |facet| except != Some(facet);
        (!on(Facet::Platform) || self.platform.is_none_or(|p| p == f.platform))
            && (!on(Facet::Sentiment) || self.sentiment.is_none_or(|s| Some(s) == f.sentiment))
            && (!on(Facet::Intent) || self.intent.is_none_or(|i| Some(i) == f.intent))
            && (!on(Facet::SlaBreached) || self.sla_breached.is_none_or(|b| b == f.sla_breached))
            && (!on(Facet::Status) || self.statuses().contains(&f.status))
            && (!on(Facet::Assignee)
                || match &self.assignee {
                    None => true,
                    Some(Assignee::Nobody) => f.assignee.is_none(),
                    Some(Assignee::User(u)) => f.assignee.as_deref() == Some(u.as_str()),
                })
    }
}

named_enum! {
    /// A dimension the inbox is filtered and counted by.
    Facet {
        Platform => "platform",
        Sentiment => "sentiment",
        Intent => "intent",
        SlaBreached => "sla_breached",
        Status => "status",
        Assignee => "assignee",
    }
}

/// Where a page ends: the next page starts after this entry. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCursor {
    pub urgency: u8,
    pub received_at: Timestamp,
    pub key: CommentKey,
}

impl InboxCursor {
    pub fn after(comment: &Comment, urgency: u8) -> Self {
        Self {
            urgency,
            received_at: comment.received_at,
            key: comment.key.clone(),
        }
    }

    /// URL-safe text: base64url of `urgency.received.platform.id`.
    pub fn encode(&self) -> String {
        let raw = format!(
            "{}.{}.{}.{}",
            self.urgency,
            self.received_at.millis(),
            self.key.platform,
            self.key.external_id
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads what [`encode`](Self::encode) wrote for `brand`'s inbox.
    pub fn decode(brand: &crate::comment::BrandId, text: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::Cursor(text.chars().take(80).collect());
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.splitn(4, '.');
        let (Some(u), Some(r), Some(p), Some(id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            urgency: u.parse().map_err(|_| bad())?,
            received_at: Timestamp(r.parse().map_err(|_| bad())?),
            key: CommentKey::new(
                brand.clone(),
                Platform::parse(p).map_err(|_| bad())?,
                id.to_owned(),
            )
            .map_err(|_| bad())?,
        })
    }

    /// Whether an entry comes after the cursor in inbox order: urgency down, then time
    /// received up, then platform name and id (as text, as a store sorts them).
    pub fn precedes(&self, urgency: u8, received_at: Timestamp, key: &CommentKey) -> bool {
        order(self.urgency, self.received_at, &self.key) < order(urgency, received_at, key)
    }
}

fn order(
    urgency: u8,
    received_at: Timestamp,
    key: &CommentKey,
) -> (std::cmp::Reverse<u8>, Timestamp, &str, &str) {
    (
        std::cmp::Reverse(urgency),
        received_at,
        key.platform.as_str(),
        &key.external_id,
    )
}

/// One comment of the inbox, with what it is filed under.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxItem {
    pub comment: Comment,
    pub facets: InboxFacets,
}

/// One page, in inbox order.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// `None` on the last page.
    pub next: Option<InboxCursor>,
}

impl InboxPage {
    /// A page of `limit` from up to `limit + 1` items read in inbox order: one more than
    /// asked tells that there is a next page, which starts after the page's last item.
    pub fn of(mut items: Vec<InboxItem>, limit: usize) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|i| InboxCursor::after(&i.comment, i.facets.urgency))
        } else {
            None
        };
        Self { items, next }
    }
}

/// How many comments each filter value would list, the other filters staying as they are
/// (the status counts are over [`LISTED`]), and how many the filter lists in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCounts {
    pub matching: u64,
    pub platform: BTreeMap<String, u64>,
    pub sentiment: BTreeMap<String, u64>,
    pub intent: BTreeMap<String, u64>,
    pub status: BTreeMap<String, u64>,
    /// By user holding a live claim; `none` for unclaimed.
    pub assignee: BTreeMap<String, u64>,
    pub sla_breached: BTreeMap<String, u64>,
}

impl InboxCounts {
    /// Counts entries of the inbox (each with how many comments share its values), as a
    /// store that groups in its query, or scans, hands them over.
    pub fn tally<'a>(
        filter: &InboxFilter,
        entries: impl IntoIterator<Item = (&'a FacetValues, u64)>,
    ) -> Self {
        let mut c = Self::default();
        for (f, n) in entries {
            if filter.admits(f, None) {
                c.matching += n;
            }
            let values = [
                (Facet::Platform, f.platform.as_str()),
                (Facet::Sentiment, f.sentiment.map_or("none", |s| s.as_str())),
                (Facet::Intent, f.intent.map_or("none", |i| i.as_str())),
                (
                    Facet::SlaBreached,
                    if f.sla_breached { "true" } else { "false" },
                ),
                (Facet::Status, f.status.as_str()),
                (Facet::Assignee, f.assignee.as_deref().unwrap_or("none")),
            ];
            for (facet, value) in values {
                if !filter.admits(f, Some(facet)) {
                    continue;
                }
                let map = match facet {
                    Facet::Platform => &mut c.platform,
                    Facet::Sentiment => &mut c.sentiment,
                    Facet::Intent => &mut c.intent,
                    Facet::SlaBreached => &mut c.sla_breached,
                    Facet::Status => &mut c.status,
                    Facet::Assignee => &mut c.assignee,
                };
                *map.entry(value.to_owned()).or_default() += n;
            }
        }
        c
    }
}

/// Whether a comment's pipeline state lets it be in the inbox at all.
pub fn listable(state: CommentState) -> bool {
    state == CommentState::Triaged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::BrandId;

    fn facets(platform: Platform, status: ReviewStatus, by: Option<(&str, i64)>) -> InboxFacets {
        InboxFacets {
            urgency: 50,
            platform,
            sentiment: Some(Sentiment::Negative),
            intent: Some(Intent::RefundRequest),
            sla_due: Some(Timestamp(1_000)),
            status,
            claimed_by: by.map(|(u, _)| u.to_owned()),
            claimed_until: by.map(|(_, t)| Timestamp(t)),
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let brand = BrandId::parse("acme").unwrap();
        let c = InboxCursor {
            urgency: 73,
            received_at: Timestamp(1_700_000_000_123),
            key: CommentKey::new(brand.clone(), Platform::Facebook, "12_34.5").unwrap(),
        };
        assert_eq!(InboxCursor::decode(&brand, &c.encode()).unwrap(), c);
        for bad in ["", "!!", "bm9wZQ", "MS4yLmZhY2Vib29r"] {
            assert!(InboxCursor::decode(&brand, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inbox_order_is_most_urgent_then_oldest() {
        let brand = BrandId::parse("acme").unwrap();
        let key = |id: &str| CommentKey::new(brand.clone(), Platform::Facebook, id).unwrap();
        let c = InboxCursor {
            urgency: 60,
            received_at: Timestamp(100),
            key: key("b"),
        };
        assert!(c.precedes(50, Timestamp(0), &key("a")), "less urgent");
        assert!(c.precedes(60, Timestamp(101), &key("a")), "younger");
        assert!(
            c.precedes(60, Timestamp(100), &key("c")),
            "same instant, by key"
        );
        assert!(!c.precedes(60, Timestamp(100), &key("b")), "itself");
        assert!(!c.precedes(61, Timestamp(500), &key("z")), "more urgent");
    }

    #[test]
    fn counts_leave_out_their_own_facet() {
        let now = Timestamp(500);
        let fb = facets(Platform::Facebook, ReviewStatus::New, None);
        let ig = facets(
            Platform::Instagram,
            ReviewStatus::InProgress,
            Some(("lou", 900)),
        );
        let hidden = facets(Platform::Facebook, ReviewStatus::Hidden, None);
        let expired = facets(Platform::Instagram, ReviewStatus::New, Some(("lou", 400)));
        let filter = InboxFilter {
            platform: Some(Platform::Facebook),
            ..InboxFilter::default()
        };
        let (fb, ig, hidden, expired) = (fb.at(now), ig.at(now), hidden.at(now), expired.at(now));
        let c = InboxCounts::tally(&filter, [(&fb, 2), (&ig, 3), (&hidden, 1), (&expired, 4)]);
        assert_eq!(c.matching, 2, "open facebook ones");
        assert_eq!(c.platform["facebook"], 2);
        assert_eq!(
            c.platform["instagram"], 7,
            "platform counts ignore the platform filter"
        );
        assert_eq!(
            c.status["hidden"], 1,
            "status counts cover every listed status"
        );
        assert_eq!(c.status["new"], 2);
        assert!(
            !c.status.contains_key("in_progress"),
            "instagram is filtered out"
        );
        assert_eq!(c.assignee["none"], 2, "an expired claim is nobody's");
        assert_eq!(c.sla_breached["false"], 2, "not due before 1000");
        let mine = InboxFilter {
            assignee: Some(Assignee::User("lou".into())),
            ..InboxFilter::default()
        };
        assert_eq!(
            InboxCounts::tally(&mine, [(&ig, 3), (&expired, 4)]).matching,
            3
        );
        let nobody = InboxFilter {
            assignee: Some(Assignee::parse("none")),
            sla_breached: Some(false),
            ..InboxFilter::default()
        };
        let early = facets(Platform::Instagram, ReviewStatus::New, Some(("lou", 400)));
        assert_eq!(
            InboxCounts::tally(&nobody, [(&early.at(Timestamp(0)), 4)]).matching,
            0,
            "claimed then"
        );
        assert_eq!(
            InboxCounts::tally(&nobody, [(&expired, 4)]).matching,
            4,
            "claim over, not due yet"
        );
        let overdue = facets(Platform::Instagram, ReviewStatus::New, None).at(Timestamp(2_000));
        assert_eq!(
            InboxCounts::tally(&nobody, [(&overdue, 4)]).matching,
            0,
            "due by then"
        );
        let later = facets(Platform::Instagram, ReviewStatus::New, None);
        assert_eq!(
            InboxCounts::tally(&nobody, [(&later.at(Timestamp(999)), 4)]).matching,
            4
        );
    }
}
