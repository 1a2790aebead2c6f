//! The managers' inbox on DynamoDB: one item per listed comment, beside it (its PK,
//! `SK = "I"`), on GSI2 under `INBOX#<brand>` with a sort key in inbox order, so that a
//! page is one `Query` read forward.
//!
//! The item holds the facets, as plain attributes for the filter expression, and not the
//! comment: an entry is a few hundred bytes, one write unit in the table and one in the
//! index each time the comment or its review changes, and the counts read a brand's whole
//! inbox at some 300 bytes a comment. A page is one `Query` for the entries, then one
//! `BatchGetItem` for their comments.
//!
//! The item is put or deleted in the transaction that writes the comment
//! ([`CommentWrite::update`](vigie_core::ports::CommentWrite::update)) or its review
//! ([`ReviewStore::put_review`](vigie_core::ports::ReviewStore::put_review)), under a
//! condition that the other one is still as read; see those in `dynamo.rs`. Reads of the
//! index are eventually consistent, as any GSI's: a page may lag a write by a moment.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use vigie_core::comment::{BrandId, Comment, CommentKey, Platform, Sentiment};
use vigie_core::inbox::{
    Assignee, InboxCounts, InboxCursor, InboxFacets, InboxFilter, InboxItem, InboxPage, LISTED,
};
use vigie_core::ports::{Inbox, StoreError};
use vigie_core::review::{Review, ReviewStatus};
use vigie_core::time::Timestamp;
use vigie_core::understanding::Intent;

use super::{DynamoStore, Item, comment_pk, decode, n, partition_key, s, unavailable};

/// The inbox item's sort key, beside the comment (`C`), its drafts (`D`) and review (`R`).
pub(super) const INBOX_SK: &str = "I";

/// The index the inbox is read from (shared with the open comments, under other keys).
const INDEX: &str = "GSI2";

/// The largest page asked of DynamoDB while looking for comments that pass a filter.
const BATCH_MAX: usize = 1000;

fn inbox_pk(brand: &BrandId) -> String {
    format!("INBOX#{brand}")
}

/// A sort key that orders a brand's inbox as [`InboxCursor::precedes`]: urgency down
/// (`255 - urgency`, 3 digits), time received up (milliseconds offset by 2^63, 20 digits,
/// so that the text sorts as the signed number), then platform name and id as text.
/// Unique within the brand, so "after the cursor" is a key condition.
fn inbox_sk(urgency: u8, received_at: Timestamp, key: &CommentKey) -> String {
    let received = (received_at.millis() as u64) ^ (1 << 63);
    format!(
        "{:03}#{received:020}#{}#{}",
        u8::MAX - urgency,
        key.platform,
        key.external_id
    )
}

/// What the inbox files a comment under with this review, when it is listed at all.
pub(super) fn filed(comment: &Comment, review: Option<&Review>) -> Option<InboxFacets> {
    InboxFacets::of(comment, review).filter(|f| LISTED.contains(&f.status))
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(super) fn inbox_item(c: &Comment, f: &InboxFacets) -> Item {
    let mut item: Item = HashMap::from([
        ("PK".into(), s(comment_pk(&c.key))),
        ("SK".into(), s(INBOX_SK)),
        ("type".into(), s("inbox")),
        ("brand".into(), s(c.key.brand.as_str())),
        ("urgency".into(), n(f.urgency)),
        ("received_at".into(), n(c.received_at.millis())),
        ("platform".into(), s(f.platform.as_str())),
        ("external_id".into(), s(&c.key.external_id)),
        ("status".into(), s(f.status.as_str())),
        ("GSI2PK".into(), s(inbox_pk(&c.key.brand))),
        (
            "GSI2SK".into(),
            s(inbox_sk(f.urgency, c.received_at, &c.key)),
        ),
    ]);
    // An absent facet is an absent attribute: the filter's comparisons fail on it, as
    // SQL's on NULL.
    let optional = [
        ("sentiment", f.sentiment.map(|v| s(v.as_str()))),
        ("intent", f.intent.map(|v| s(v.as_str()))),
        ("sla_due", f.sla_due.map(|t| n(t.millis()))),
        ("claimed_by", f.claimed_by.as_deref().map(s)),
        ("claimed_until", f.claimed_until.map(|t| n(t.millis()))),
    ];
    item.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    item
}

/// The write of a comment's inbox item in a transaction: its put when `facets` lists it,
/// its delete otherwise (nothing to delete is fine).
pub(super) fn inbox_write(
    table: &str,
    comment: &Comment,
    facets: Option<&InboxFacets>,
) -> Result<TransactWriteItem, StoreError> {
    Ok(match facets {
        Some(f) => TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(inbox_item(comment, f)))
                    .build()
                    .map_err(built)?,
            )
            .build(),
        None => TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(table)
                    .key("PK", s(comment_pk(&comment.key)))
                    .key("SK", s(INBOX_SK))
                    .build()
                    .map_err(built)?,
            )
            .build(),
    })
}

/// The facets an inbox item was filed under.
fn facets_of(item: &Item) -> Result<InboxFacets, StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("inbox item: {what}"));
    let text = |k: &str| -> Result<Option<&str>, StoreError> {
        item.get(k)
            .map(|v| v.as_s().map(String::as_str).map_err(|_| bad(k)))
            .transpose()
    };
    let number = |k: &str| -> Result<Option<i64>, StoreError> {
        item.get(k)
            .map(|v| {
                v.as_n()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad(k))
            })
            .transpose()
    };
    let status = text("status")?.ok_or_else(|| bad("status"))?;
    Ok(InboxFacets {
        urgency: number("urgency")?
            .and_then(|u| u8::try_from(u).ok())
            .ok_or_else(|| bad("urgency"))?,
        platform: text("platform")?
            .and_then(|p| Platform::parse(p).ok())
            .ok_or_else(|| bad("platform"))?,
        sentiment: text("sentiment")?
            .map(|v| Sentiment::parse(v).ok_or_else(|| bad("sentiment")))
            .transpose()?,
        intent: text("intent")?
            .map(|v| Intent::parse(v).ok_or_else(|| bad("intent")))
            .transpose()?,
        sla_due: number("sla_due")?.map(Timestamp),
        status: ReviewStatus::parse(status).ok_or_else(|| bad("status"))?,
        claimed_by: text("claimed_by")?.map(str::to_owned),
        claimed_until: number("claimed_until")?.map(Timestamp),
    })
}

/// Where a page that ends at this entry goes on from.
fn cursor_of(
    brand: &BrandId,
    item: &Item,
    facets: &InboxFacets,
) -> Result<InboxCursor, StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("inbox item: {what}"));
    let received_at = item
        .get("received_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .map(Timestamp)
        .ok_or_else(|| bad("received_at"))?;
    let id = item
        .get("external_id")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| bad("external_id"))?;
    Ok(InboxCursor {
        urgency: facets.urgency,
        received_at,
        key: CommentKey::new(brand.clone(), facets.platform, id.as_str())
            .map_err(|_| bad("external_id"))?,
    })
}

/// A filter as a DynamoDB filter expression, with its names and values.
#[derive(Default)]
struct Expression {
    clauses: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn of(filter: &InboxFilter, now: Timestamp) -> Self {
        let mut e = Self::default();
        let statuses: Vec<String> = filter
            .statuses()
            .iter()
            .enumerate()
            .map(|(i, st)| e.value(&format!(":status{i}"), s(st.as_str())))
            .collect();
        e.clause(
            &[("#status", "status")],
            format!("#status IN ({})", statuses.join(", ")),
        );
        if let Some(p) = filter.platform {
            e.value(":platform", s(p.as_str()));
            e.clause(&[("#platform", "platform")], "#platform = :platform");
        }
        if let Some(v) = filter.sentiment {
            e.value(":sentiment", s(v.as_str()));
            e.clause(&[("#sentiment", "sentiment")], "#sentiment = :sentiment");
        }
        if let Some(i) = filter.intent {
            e.value(":intent", s(i.as_str()));
            e.clause(&[("#intent", "intent")], "#intent = :intent");
        }
        let sla = [("#sla", "sla_due")];
        match filter.sla_breached {
            // Past due: an answer at the due instant is on time.
            Some(true) => e.clause(&sla, "#sla < :now"),
            Some(false) => e.clause(&sla, "(attribute_not_exists(#sla) OR #sla >= :now)"),
            None => {}
        }
        let claim = [("#by", "claimed_by"), ("#until", "claimed_until")];
        match &filter.assignee {
            Some(Assignee::Nobody) => {
                e.clause(&claim, "(attribute_not_exists(#by) OR #until <= :now)");
            }
            Some(Assignee::User(u)) => {
                e.value(":user", s(u));
                e.clause(&claim, "#by = :user AND #until > :now");
            }
            None => {}
        }
        if filter.sla_breached.is_some() || filter.assignee.is_some() {
            e.value(":now", n(now.millis()));
        }
        e
    }

    fn value(&mut self, name: &str, v: AttributeValue) -> String {
        self.values.insert(name.to_owned(), v);
        name.to_owned()
    }

    fn clause(&mut self, names: &[(&str, &str)], text: impl Into<String>) {
        for (placeholder, attribute) in names {
            self.names
                .insert((*placeholder).to_owned(), (*attribute).to_owned());
        }
        self.clauses.push(text.into());
    }

    fn text(&self) -> String {
        self.clauses.join(" AND ")
    }
}

/// The attributes the counts read (`urgency` too: what they decode is whole facets).
const FACETS: &str = "#u, #platform, #sentiment, #intent, #sla, #status, #by, #until";

fn facet_names() -> HashMap<String, String> {
    [
        ("#u", "urgency"),
        ("#platform", "platform"),
        ("#sentiment", "sentiment"),
        ("#intent", "intent"),
        ("#sla", "sla_due"),
        ("#status", "status"),
        ("#by", "claimed_by"),
        ("#until", "claimed_until"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[async_trait]
impl Inbox for DynamoStore {
    /// Reads the brand's inbox index forward from the cursor (`GSI2SK > cursor`), the
    /// filter applied by DynamoDB, until `limit + 1` comments have passed it (the one past
    /// the page says a next one exists) or the index ends. A `Query`'s `Limit` counts the
    /// items read before the filter, so a narrow filter takes more than one `Query`: each
    /// reads twice as many items as the one before, up to 1000. The page's comments come
    /// after, in one `BatchGetItem` (eventually consistent, as the index).
    async fn inbox(
        &self,
        brand: &BrandId,
        filter: &InboxFilter,
        after: Option<&InboxCursor>,
        limit: usize,
        now: Timestamp,
    ) -> Result<InboxPage, StoreError> {
        let limit = limit.clamp(1, 500);
        let want = limit + 1;
        let expression = Expression::of(filter, now);
        let mut values = expression.values.clone();
        values.insert(":pk".into(), s(inbox_pk(brand)));
        let key_condition = match after {
            Some(c) => {
                values.insert(
                    ":after".into(),
                    s(inbox_sk(c.urgency, c.received_at, &c.key)),
                );
                "GSI2PK = :pk AND GSI2SK > :after"
            }
            None => "GSI2PK = :pk",
        };
        let mut entries = Vec::with_capacity(want);
        let mut batch = want;
        let mut start: Option<Item> = None;
        'pages: loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX)
                .key_condition_expression(key_condition)
                .filter_expression(expression.text())
                .set_expression_attribute_names(Some(expression.names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(true)
                .limit(batch as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            for item in page.items() {
                let facets = facets_of(item)?;
                let cursor = cursor_of(brand, item, &facets)?;
                entries.push((partition_key(item)?, facets, cursor));
                if entries.len() == want {
                    break 'pages;
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
            batch = (batch * 2).min(BATCH_MAX);
        }
        // One entry more than the page tells that there is a next page, which starts after
        // the page's last entry.
        let next = (entries.len() > limit).then(|| entries[limit - 1].2.clone());
        entries.truncate(limit);
        let keys: Vec<(String, String)> = entries
            .iter()
            .map(|(pk, _, _)| (pk.clone(), "C".to_owned()))
            .collect();
        let mut comments = self.batch_get(&keys, false).await?;
        let mut items = Vec::with_capacity(entries.len());
        for (pk, facets, _) in entries {
            // An entry is written in the transaction that writes its comment: one without
            // is left out of the page (and said), not allowed to break the inbox.
            match comments.remove(&(pk.clone(), "C".to_owned())) {
                Some(comment) => items.push(InboxItem {
                    comment: decode(&comment)?,
                    facets,
                }),
                None => {
                    tracing::warn!(entry = %pk, "inbox entry without its comment: left out of the page")
                }
            }
        }
        Ok(InboxPage { items, next })
    }

    /// Reads every inbox item of the brand (the index partition, all pages, the facet
    /// attributes only) and counts them here. Its cost grows with the brand's listed
    /// comments: DynamoDB charges a `Query` by the size of the items it reads, whatever
    /// the projection, some 300 bytes an entry, so a call costs about half a read unit per
    /// 13 listed comments (2,000 listed comments: 75 read units, 600 KB in one round trip).
    async fn inbox_counts(
        &self,
        brand: &BrandId,
        filter: &InboxFilter,
        now: Timestamp,
    ) -> Result<InboxCounts, StoreError> {
        let mut values = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX)
                .key_condition_expression("GSI2PK = :pk")
                .expression_attribute_values(":pk", s(inbox_pk(brand)))
                .projection_expression(FACETS)
                .set_expression_attribute_names(Some(facet_names()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            for item in page.items() {
                values.push(facets_of(item)?.at(now));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(InboxCounts::tally(filter, values.iter().map(|v| (v, 1))))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(platform: Platform, id: &str) -> CommentKey {
        CommentKey::new(BrandId::parse("acme").unwrap(), platform, id).unwrap()
    }

    fn entry() -> impl Strategy<Value = (u8, i64, CommentKey)> {
        (
            any::<u8>(),
            prop_oneof![any::<i64>(), -2_000i64..2_000],
            prop::sample::select(Platform::ALL.to_vec()),
            "[a-z0-9_.]{1,6}",
        )
            .prop_map(|(u, r, p, id)| (u, r, key(p, &id)))
    }

    proptest! {
        #[test]
        fn sort_keys_sort_in_inbox_order(a in entry(), b in entry()) {
            let cursor = InboxCursor { urgency: a.0, received_at: Timestamp(a.1), key: a.2.clone() };
            let (ka, kb) = (inbox_sk(a.0, Timestamp(a.1), &a.2), inbox_sk(b.0, Timestamp(b.1), &b.2));
            prop_assert_eq!(cursor.precedes(b.0, Timestamp(b.1), &b.2), ka < kb, "{} {}", ka, kb);
        }
    }

    #[test]
    fn a_filter_names_only_what_it_uses() {
        let open = Expression::of(&InboxFilter::default(), Timestamp(5));
        assert_eq!(open.text(), "#status IN (:status0, :status1)");
        assert_eq!(open.names.len(), 1);
        assert_eq!(open.values.len(), 2, "no :now without a time filter");
        let mine = Expression::of(
            &InboxFilter {
                assignee: Some(Assignee::User("lou".into())),
                sla_breached: Some(false),
                ..InboxFilter::default()
            },
            Timestamp(5),
        );
        assert!(mine.text().ends_with("#by = :user AND #until > :now"));
        assert_eq!(mine.values[":now"], n(5));
    }
}
