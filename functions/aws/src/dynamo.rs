//! The comment store on one DynamoDB table.
//!
//! | item          | PK                                   | SK  | GSI1 (thread)             | GSI2 (inbox)                      | GSI3 (pending)          |
//! |---------------|--------------------------------------|-----|---------------------------|-----------------------------------|-------------------------|
//! | comment       | `C#<brand>#<platform>#<comment id>`  | `C` | `T#<brand>#<platform>#<thread>`, `<received ms>#<id>` | -       | `PENDING`, received ms (received only) |
//! | drafts        | `C#<brand>#<platform>#<comment id>`  | `D` | -                         | -                                 | -                       |
//! | review        | `C#<brand>#<platform>#<comment id>`  | `R` | -                         | -                                 | -                       |
//! | audit record  | `C#<brand>#<platform>#<comment id>`  | `A#<review revision, 20 digits>` | -    | -                                 | -                       |
//! | inbox entry   | `C#<brand>#<platform>#<comment id>`  | `I` | -                         | `INBOX#<brand>`, `<255 - urgency, 3 digits>#<received ms + 2^63, 20 digits>#<platform>#<comment id>` | - |
//! | user          | `USERS`                              | `U#<name>` | -                  | -                                 | -                       |
//! | raw delivery  | `R#<sha256 of body>`                 | `R` | -                         | -                                 | -                       |
//! | seen event    | `E#<event id>`                       | `E` | -                         | -                                 | -                       |
//! | brand content | `B#<brand>`                          | `V#<version, 6 digits>` | -               | -                                 | -                       |
//! | content pointer | `B#<brand>`                        | `CURRENT` | -                   | -                                 | -                       |
//!
//! Every comment item is also on GSI4 (`RCV#<brand>`, received ms): a report's period is one
//! range query.
//!
//! Write units follow item sizes, in the table and in every index an item is in, so the
//! indexes a comment is in (GSI1, GSI3, GSI4) project its keys only: an index entry is a
//! hundred bytes, written when the comment enters or leaves the index and never when only
//! its body changes. Their reads (a thread, the pending comments, a report's period) take
//! the keys off the index, then the comments by `BatchGetItem`. Only GSI2 projects
//! everything: it holds the small inbox entries, read whole by a page and by the counts.
//!
//! The comment itself is the JSON attribute `body`, deflated into binary when that is
//! smaller (module `body`, for every item's body); `revision` carries optimistic
//! concurrency (conditional puts); `open_urgency` is there while it is triaged (open).
//! Raw deliveries and seen events expire through the `expires_at` TTL (epoch seconds).
//!
//! Each version of a brand's content is an item of its own (JSON `body`, `version`), kept
//! for the drafts that name it; the pointer's `version` is the current one. Both are written
//! in one transaction, the pointer's condition (`attribute_not_exists(PK)` or
//! `version = :expected`) refusing a stale writer. A content body, embeddings included
//! (~100 replies of ~600 B), stays well under DynamoDB's 400 KB item limit. A version never
//! changes once written, so the store keeps the versions it has read in memory: a warm
//! function reads only the pointer.
//!
//! A comment's drafts sit next to it (same PK): JSON `body`, numeric `comment_version`
//! (a put replaces them only for a later comment version) and `state` (a withdrawal sets it
//! alone; it overrides the body's).
//!
//! A comment in the managers' inbox (triaged, its review neither replied nor withdrawn) has
//! an inbox entry next to it (module `inbox`): its facets as attributes (`urgency`,
//! `received_at`, `platform`, `external_id`, `sentiment`, `intent`, `sla_due`, `status`,
//! `claimed_by`, `claimed_until`; an absent facet is an absent attribute) and GSI2 keys
//! that sort the brand's inbox in its order, ascending. The entry is put or deleted in the
//! same `TransactWriteItems` as the comment (checking the review unchanged) or the review
//! (checking the comment unchanged). A comment item without `open_urgency` (not triaged)
//! never has one, so a write that leaves it so is a single conditional put.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem,
};
use vigie_core::comment::{BrandId, Comment, CommentKey, CommentState, ThreadKey};
use vigie_core::content::BrandContent;
use vigie_core::drafts::{DraftState, Drafts};
use vigie_core::poll::{FeedState, PollStore, ReadRequests};
use vigie_core::ports::{
    BrandContentStore, Claim, CommentRead, CommentWrite, DraftStore, Inserted, PendingComments,
    RawArchive, RawDelivery, ReviewStore, SeenEvents, StoreError, UserStore,
};
use vigie_core::review::{AuditRecord, Review};
use vigie_core::time::Timestamp;
use vigie_core::users::{User, UserName};

mod body;
mod inbox;
mod refile;
mod reports;

pub use refile::Refiled;

type Item = HashMap<String, AttributeValue>;

/// How many times a write whose transaction also checks the comment's other item (the
/// review for a comment update, the comment for a review put) is tried again when only
/// that check failed, each time over a fresh read of it.
const ATTEMPTS: usize = 5;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Brand content versions read so far (a version never changes once written).
    versions: Arc<Mutex<HashMap<(BrandId, u32), BrandContent>>>,
}

/// Content versions kept in memory at most (a few brands, a few edits a day each).
const VERSIONS_KEPT: usize = 32;

fn unavailable<E: std::fmt::Debug + ProvideErrorMetadata>(e: E) -> StoreError {
    StoreError::Unavailable(format!(
        "{}: {}",
        e.code().unwrap_or("error"),
        e.message().unwrap_or("no message")
    ))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn comment_pk(k: &CommentKey) -> String {
    format!("C#{}#{}#{}", k.brand, k.platform, k.external_id)
}

fn thread_pk(t: &ThreadKey) -> String {
    format!("T#{}#{}#{}", t.brand, t.platform, t.thread_id)
}

/// The attribute of a comment item while it is triaged (its urgency): one with it may have
/// an inbox entry, one without never has.
const OPEN: &str = "open_urgency";

/// The condition that a comment item is not triaged, so has no inbox entry: no
/// `open_urgency`, nor `GSI2PK`, which marked a triaged comment in the older layout (until
/// `vigie inbox refile` rewrites it).
const UNTRIAGED: &str = "attribute_not_exists(open_urgency) AND attribute_not_exists(GSI2PK)";

fn comment_item(c: &Comment) -> Result<Item, StoreError> {
    let body = serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut item: Item = HashMap::from([
        ("PK".into(), s(comment_pk(&c.key))),
        ("SK".into(), s("C")),
        ("type".into(), s("comment")),
        ("brand".into(), s(c.key.brand.as_str())),
        ("state".into(), s(c.state.as_str())),
        ("revision".into(), n(c.revision)),
        ("received_at".into(), n(c.received_at.millis())),
        ("body".into(), body::encode(body)),
        ("GSI1PK".into(), s(thread_pk(&c.thread()))),
        (
            "GSI1SK".into(),
            s(format!(
                "{:013}#{}",
                c.received_at.millis(),
                c.key.external_id
            )),
        ),
    ]);
    if let Some(urgency) = c.open_urgency() {
        item.insert(OPEN.into(), n(urgency));
    }
    if c.state == CommentState::Received {
        item.insert("GSI3PK".into(), s("PENDING"));
        item.insert("GSI3SK".into(), n(c.received_at.millis()));
    }
    // every comment, by brand and time received: what reports read
    item.insert("GSI4PK".into(), s(reports::received_pk(&c.key.brand)));
    item.insert("GSI4SK".into(), n(c.received_at.millis()));
    Ok(item)
}

fn decode(item: &Item) -> Result<Comment, StoreError> {
    let body = body::decode(item.get("body"), "comment")?;
    let mut c: Comment =
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if c.text.is_none() && c.attachment.is_none() {
        // Intake stores every comment with its text, its attachment, or both.
        return Err(StoreError::Corrupt(
            "comment with neither text nor attachment".into(),
        ));
    }
    if let Some(r) = item
        .get("revision")
        .and_then(|v| v.as_n().ok())
        .and_then(|r| r.parse().ok())
    {
        c.revision = r;
    }
    Ok(c)
}

/// Names of the table and its indexes, to create it (tests, first deployment checks).
pub struct TableSpec;

/// One global secondary index of the table (infra/template.yaml declares the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// The sort key's type is a number (else a string).
    pub numeric_sort_key: bool,
    /// Projects every attribute (else the keys only).
    pub projects_all: bool,
}

impl TableSpec {
    /// The table's key attributes.
    pub const KEY: [&'static str; 2] = ["PK", "SK"];

    /// The indexes: only GSI2, the inbox entries' (small, read whole), projects every
    /// attribute; the comments' project their keys.
    pub const INDEXES: [IndexSpec; 4] = [
        IndexSpec {
            name: "GSI1",
            partition_key: "GSI1PK",
            sort_key: "GSI1SK",
            numeric_sort_key: false,
            projects_all: false,
        },
        IndexSpec {
            name: "GSI2",
            partition_key: "GSI2PK",
            sort_key: "GSI2SK",
            numeric_sort_key: false,
            projects_all: true,
        },
        IndexSpec {
            name: "GSI3",
            partition_key: "GSI3PK",
            sort_key: "GSI3SK",
            numeric_sort_key: true,
            projects_all: false,
        },
        IndexSpec {
            name: "GSI4",
            partition_key: "GSI4PK",
            sort_key: "GSI4SK",
            numeric_sort_key: true,
            projects_all: false,
        },
    ];
}

impl TableSpec {
    pub async fn create(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
                .expect("complete definition")
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
                .expect("complete key")
        };
        let mut create = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("PK", ScalarAttributeType::S))
            .attribute_definitions(attr("SK", ScalarAttributeType::S))
            .key_schema(key("PK", KeyType::Hash))
            .key_schema(key("SK", KeyType::Range));
        for index in Self::INDEXES {
            let sort_type = if index.numeric_sort_key {
                ScalarAttributeType::N
            } else {
                ScalarAttributeType::S
            };
            let projection = if index.projects_all {
                ProjectionType::All
            } else {
                ProjectionType::KeysOnly
            };
            create = create
                .attribute_definitions(attr(index.partition_key, ScalarAttributeType::S))
                .attribute_definitions(attr(index.sort_key, sort_type))
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(index.name)
                        .key_schema(key(index.partition_key, KeyType::Hash))
                        .key_schema(key(index.sort_key, KeyType::Range))
                        .projection(Projection::builder().projection_type(projection).build())
                        .build()
                        .expect("complete index"),
                );
        }
        create
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .expect("complete TTL"),
            )
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}

impl DynamoStore {
    pub fn from_conf(conf: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(conf), table)
    }

    /// The table it reads and writes.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            versions: Arc::default(),
        }
    }

    /// The partition keys of the items of index `index` (keys `<index>PK`, `<index>SK`,
    /// projecting keys only) under one partition key, in the index's order.
    async fn keys_on(
        &self,
        index: &str,
        pk: String,
        forward: bool,
        limit: usize,
        sk_below: Option<AttributeValue>,
    ) -> Result<Vec<String>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .scan_index_forward(forward)
            .limit(limit.clamp(1, 1000) as i32)
            .expression_attribute_names("#pk", format!("{index}PK"))
            .expression_attribute_values(":pk", s(pk));
        q = match sk_below {
            Some(v) => q
                .key_condition_expression("#pk = :pk AND #sk < :sk")
                .expression_attribute_names("#sk", format!("{index}SK"))
                .expression_attribute_values(":sk", v),
            None => q.key_condition_expression("#pk = :pk"),
        };
        let out = q
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        out.items().iter().map(partition_key).collect()
    }

    /// The comments of these partition keys, in their order (one missing is left out).
    async fn comments_of(
        &self,
        pks: &[String],
        consistent: bool,
    ) -> Result<Vec<Comment>, StoreError> {
        let keys: Vec<(String, String)> = pks.iter().map(|pk| (pk.clone(), "C".into())).collect();
        let mut found = self.batch_get(&keys, consistent).await?;
        keys.iter()
            .filter_map(|k| found.remove(k))
            .map(|item| decode(&item))
            .collect()
    }

    /// Items by their keys (`PK`, `SK`), 100 keys a `BatchGetItem`, unprocessed keys asked
    /// again with a growing pause; what is missing is absent from the map.
    async fn batch_get(
        &self,
        keys: &[(String, String)],
        consistent: bool,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET) {
            let mut wanted: Vec<Item> = chunk
                .iter()
                .map(|(pk, sk)| {
                    HashMap::from([
                        ("PK".to_owned(), s(pk.clone())),
                        ("SK".to_owned(), s(sk.clone())),
                    ])
                })
                .collect();
            for round in 0.. {
                if wanted.is_empty() {
                    break;
                }
                if round == BATCH_GET_ROUNDS {
                    return Err(StoreError::Unavailable(
                        "items still unprocessed after retries".into(),
                    ));
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let key = (partition_key(item)?, sort_key(item)?);
                    found.insert(key, item.clone());
                }
                if let Some(left) = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                {
                    wanted = left;
                    if !wanted.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
                    }
                }
            }
        }
        Ok(found)
    }
}

/// Keys a `BatchGetItem` takes at most.
const BATCH_GET: usize = 100;
/// Rounds of unprocessed keys asked again before giving up.
const BATCH_GET_ROUNDS: usize = 8;

fn partition_key(item: &Item) -> Result<String, StoreError> {
    match item.get("PK") {
        Some(AttributeValue::S(pk)) => Ok(pk.clone()),
        _ => Err(StoreError::Corrupt("item without PK".into())),
    }
}

fn sort_key(item: &Item) -> Result<String, StoreError> {
    match item.get("SK") {
        Some(AttributeValue::S(sk)) => Ok(sk.clone()),
        _ => Err(StoreError::Corrupt("item without SK".into())),
    }
}

#[async_trait]
impl CommentWrite for DynamoStore {
    async fn insert_if_new(&self, comment: &Comment) -> Result<Inserted, StoreError> {
        let mut c = comment.clone();
        c.revision = 1;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(comment_item(&c)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Inserted::New(c)),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    let existing = self.get(&c.key).await?.ok_or(StoreError::Conflict)?;
                    Ok(Inserted::Existing(existing))
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    /// One conditional `PutItem` when the comment is not in the inbox before the write
    /// (no `open_urgency`: then it has no inbox item) nor after it; otherwise one
    /// `TransactWriteItems`: the comment under `revision = :expected`, its inbox item put
    /// or deleted as [`InboxFacets::of`](vigie_core::inbox::InboxFacets::of) files it with
    /// the review read just before, and, when it is triaged, a check that this review is
    /// still at the revision read (or still absent). A review written in between fails
    /// that check only: the write is tried again over the new review.
    async fn update(&self, comment: &Comment) -> Result<Comment, StoreError> {
        let mut c = comment.clone();
        let expected = c.revision;
        c.revision += 1;
        let item = comment_item(&c)?;
        if c.open_urgency().is_none() {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(format!("revision = :expected AND {UNTRIAGED}"))
                .expression_attribute_values(":expected", n(expected))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match put.map_err(|e| e.into_service_error()) {
                Ok(_) => return Ok(c),
                Err(PutItemError::ConditionalCheckFailedException(refused)) => {
                    if refused.item().and_then(revision_of) != Some(expected) {
                        return Err(StoreError::Conflict);
                    }
                    // At the revision read, and in the inbox: it leaves it in a transaction.
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        let pk = comment_pk(&c.key);
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("revision = :expected")
            .expression_attribute_values(":expected", n(expected))
            .build()
            .map_err(built)?;
        for _ in 0..ATTEMPTS {
            let (facets, review_check) = if c.open_urgency().is_some() {
                let stored = self.item(pk.clone(), REVIEW_SK.into()).await?;
                let review: Option<Review> =
                    stored.as_ref().map(|i| body_of(i, "review")).transpose()?;
                let check = self.unchanged(&pk, REVIEW_SK, stored.as_ref(), "review")?;
                (inbox::filed(&c, review.as_ref()), Some(check))
            } else {
                (None, None)
            };
            let mut items = vec![
                TransactWriteItem::builder().put(put.clone()).build(),
                inbox::inbox_write(&self.table, &c, facets.as_ref())?,
            ];
            items.extend(review_check);
            match self.transact(items).await {
                Ok(()) => return Ok(c),
                Err(Cancelled::Refused(at)) if at.contains(&0) => return Err(StoreError::Conflict),
                Err(Cancelled::Refused(_) | Cancelled::Contended) => continue,
                Err(Cancelled::Failed(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{}: its review kept changing while the comment was written",
            c.key
        )))
    }
}

/// The numeric `revision` of an item.
fn revision_of(item: &Item) -> Option<u64> {
    item.get("revision")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

#[async_trait]
impl CommentRead for DynamoStore {
    async fn get(&self, key: &CommentKey) -> Result<Option<Comment>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(comment_pk(key)))
            .key("SK", s("C"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        out.item().map(decode).transpose()
    }

    /// The thread's keys off GSI1, then its comments (eventually consistent, as the
    /// index is).
    async fn thread(&self, thread: &ThreadKey, limit: usize) -> Result<Vec<Comment>, StoreError> {
        let pks = self
            .keys_on("GSI1", thread_pk(thread), true, limit, None)
            .await?;
        self.comments_of(&pks, false).await
    }
}

#[async_trait]
impl PendingComments for DynamoStore {
    /// The keys off GSI3, then the comments read consistently: one queued since the
    /// index was read is left out.
    async fn pending(&self, before: Timestamp, limit: usize) -> Result<Vec<Comment>, StoreError> {
        let pks = self
            .keys_on(
                "GSI3",
                "PENDING".into(),
                true,
                limit,
                Some(n(before.millis())),
            )
            .await?;
        let mut comments = self.comments_of(&pks, true).await?;
        comments.retain(|c| c.state == CommentState::Received);
        Ok(comments)
    }
}

#[async_trait]
impl RawArchive for DynamoStore {
    async fn put_raw(&self, raw: &RawDelivery) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(format!("R#{}", raw.id)))
            .item("SK", s("R"))
            .item("type", s("raw"))
            .item("platform", s(raw.platform.as_str()))
            .item("received_at", n(raw.received_at.millis()))
            // DynamoDB TTL wants epoch seconds.
            .item("expires_at", n(raw.expires_at.millis() / 1000))
            .item("body", AttributeValue::B(Blob::new(raw.body.clone())))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn get_raw(&self, id: &str) -> Result<Option<RawDelivery>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(format!("R#{id}")))
            .key("SK", s("R"))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("raw delivery {id}: {what}"));
        let num = |k: &str| -> Result<i64, StoreError> {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| corrupt(k))
        };
        Ok(Some(RawDelivery {
            id: id.to_owned(),
            platform: item
                .get("platform")
                .and_then(|v| v.as_s().ok())
                .and_then(|p| vigie_core::Platform::parse(p).ok())
                .ok_or_else(|| corrupt("platform"))?,
            received_at: Timestamp(num("received_at")?),
            expires_at: Timestamp(num("expires_at")? * 1000),
            body: item
                .get("body")
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| corrupt("body"))?,
        }))
    }
}

fn event_pk(event_id: &str) -> String {
    format!("E#{event_id}")
}

/// DynamoDB TTL wants epoch seconds.
fn epoch_seconds(t: Timestamp) -> i64 {
    t.millis().div_euclid(1000)
}

#[async_trait]
impl SeenEvents for DynamoStore {
    async fn claim(
        &self,
        event_id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Claim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(event_pk(event_id)))
            .item("SK", s("E"))
            .item("type", s("event"))
            .item("state", s("claimed"))
            .item("holder", s(holder))
            .item("expires_at", n(epoch_seconds(until)))
            // TTL deletes lazily: an item past its expiry counts as gone.
            .condition_expression("attribute_not_exists(PK) OR expires_at <= :now")
            .expression_attribute_values(":now", n(epoch_seconds(now)))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) => {
                let e = e.into_service_error();
                if !e.is_conditional_check_failed_exception() {
                    return Err(unavailable(e));
                }
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("PK", s(event_pk(event_id)))
                    .key("SK", s("E"))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?;
                let delivered = out
                    .item()
                    .and_then(|i| i.get("state"))
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|state| state == "delivered");
                // Gone meanwhile (released): held until the caller tries again.
                Ok(if delivered {
                    Claim::Delivered
                } else {
                    Claim::Held
                })
            }
        }
    }

    async fn mark_delivered(
        &self,
        event_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(event_pk(event_id)))
            .item("SK", s("E"))
            .item("type", s("event"))
            .item("state", s("delivered"))
            .item("expires_at", n(epoch_seconds(expires_at)))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn release(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(event_pk(event_id)))
            .key("SK", s("E"))
            .condition_expression("holder = :holder AND #state = :claimed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":claimed", s("claimed"))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(()) // delivered, or claimed by someone else since: theirs now
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }
}

fn content_pk(brand: &BrandId) -> String {
    format!("B#{brand}")
}

fn content_sk(version: u32) -> String {
    format!("V#{version:06}")
}

/// The pointer to a brand's current content version.
const CURRENT: &str = "CURRENT";

fn decode_content(item: &Item) -> Result<BrandContent, StoreError> {
    let body = body::decode(item.get("body"), "content")?;
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoStore {
    async fn content_item(&self, brand: &BrandId, sk: String) -> Result<Option<Item>, StoreError> {
        self.item(content_pk(brand), sk).await
    }

    /// One item by its keys (a consistent read).
    async fn item(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(out.item)
    }
}

#[async_trait]
impl BrandContentStore for DynamoStore {
    async fn put_content(
        &self,
        content: &BrandContent,
        expected: Option<u32>,
    ) -> Result<u32, StoreError> {
        // Stored only if `expected` is current, so the new version is known now.
        let c = content
            .as_next_version(expected)
            .ok_or(StoreError::Conflict)?;
        let version = c.version;
        let body = serde_json::to_string(&c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let pk = content_pk(&c.brand);
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let item = Put::builder()
            .table_name(&self.table)
            .item("PK", s(&pk))
            .item("SK", s(content_sk(version)))
            .item("type", s("content"))
            .item("version", n(version))
            .item("updated_at", n(c.updated_at.millis()))
            .item("body", body::encode(body))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(built)?;
        let pointer = Put::builder()
            .table_name(&self.table)
            .item("PK", s(&pk))
            .item("SK", s(CURRENT))
            .item("type", s("content_pointer"))
            .item("version", n(version));
        let pointer = match expected {
            None => pointer.condition_expression("attribute_not_exists(PK)"),
            Some(v) => pointer
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(v)),
        }
        .build()
        .map_err(built)?;
        self.put_all(vec![item, pointer]).await?;
        Ok(version)
    }

    /// The pointer (a consistent read), then its version, from memory once read.
    async fn content(&self, brand: &BrandId) -> Result<Option<BrandContent>, StoreError> {
        let Some(pointer) = self.content_item(brand, CURRENT.into()).await? else {
            return Ok(None);
        };
        let version: u32 = pointer
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("content pointer of {brand}")))?;
        self.content_version(brand, version)
            .await?
            .map(Some)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{brand}'s current content {version} is missing"))
            })
    }

    async fn content_version(
        &self,
        brand: &BrandId,
        version: u32,
    ) -> Result<Option<BrandContent>, StoreError> {
        let key = (brand.clone(), version);
        if let Some(kept) = self.kept_versions().get(&key) {
            return Ok(Some(kept.clone()));
        }
        let Some(item) = self.content_item(brand, content_sk(version)).await? else {
            return Ok(None);
        };
        let content = decode_content(&item)?;
        let mut kept = self.kept_versions();
        if kept.len() >= VERSIONS_KEPT {
            kept.clear();
        }
        kept.insert(key, content.clone());
        Ok(Some(content))
    }
}

impl DynamoStore {
    fn kept_versions(&self) -> std::sync::MutexGuard<'_, HashMap<(BrandId, u32), BrandContent>> {
        // a panic while holding it leaves a map of whole versions: still good
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn decode_drafts(item: &Item) -> Result<Drafts, StoreError> {
    let body = body::decode(item.get("body"), "drafts")?;
    let mut d: Drafts =
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let Some(state) = item.get("state").and_then(|v| v.as_s().ok()) {
        d.state = serde_json::from_value(serde_json::Value::String(state.clone()))
            .map_err(|e| StoreError::Corrupt(format!("drafts state: {e}")))?;
    }
    Ok(d)
}

fn draft_state(state: DraftState) -> AttributeValue {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(v)) => s(v),
        _ => unreachable!("a draft state serialises as a string"),
    }
}

#[async_trait]
impl DraftStore for DynamoStore {
    async fn put_drafts(&self, drafts: &Drafts) -> Result<Drafts, StoreError> {
        let body = serde_json::to_string(drafts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(comment_pk(&drafts.key)))
            .item("SK", s("D"))
            .item("type", s("drafts"))
            .item("comment_version", n(drafts.comment_version))
            .item("generation", n(drafts.generation))
            .item("state", draft_state(drafts.state))
            .item("body", body::encode(body))
            .condition_expression(
                "attribute_not_exists(PK) OR comment_version < :v \
                 OR (comment_version = :v AND (attribute_not_exists(generation) OR generation < :g))",
            )
            .expression_attribute_values(":v", n(drafts.comment_version))
            .expression_attribute_values(":g", n(drafts.generation))
            .send()
            .await;
        match put {
            Ok(_) => Ok(drafts.clone()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    // Drafts for this version or a later one are there: they stay.
                    self.drafts(&drafts.key).await?.ok_or(StoreError::Conflict)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn drafts(&self, key: &CommentKey) -> Result<Option<Drafts>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(comment_pk(key)))
            .key("SK", s("D"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        out.item().map(decode_drafts).transpose()
    }

    async fn withdraw_drafts(&self, key: &CommentKey) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(comment_pk(key)))
            .key("SK", s("D"))
            .update_expression("SET #state = :withdrawn")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":withdrawn", draft_state(DraftState::Withdrawn))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }
}

/// The review item (`SK = "R"`) and the audit records (`SK = "A#<revision>"`, in order) sit
/// beside the comment, under its partition.
const REVIEW_SK: &str = "R";

fn audit_sk(revision: u64) -> String {
    format!("A#{revision:020}")
}

fn body_of<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> Result<T, StoreError> {
    let body = body::decode(item.get("body"), what)?;
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl ReviewStore for DynamoStore {
    async fn review(&self, key: &CommentKey) -> Result<Option<Review>, StoreError> {
        self.item(comment_pk(key), REVIEW_SK.into())
            .await?
            .map(|i| body_of(&i, "review"))
            .transpose()
    }

    async fn put_review(
        &self,
        review: &Review,
        expected_revision: Option<u64>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let pk = comment_pk(&review.key);
        let body = serde_json::to_string(review).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let audit_body =
            serde_json::to_string(audit).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let item = self.put_at_revision(
            &pk,
            REVIEW_SK,
            "review",
            review.revision,
            expected_revision,
            body,
        )?;
        let record = Put::builder()
            .table_name(&self.table)
            .item("PK", s(&pk))
            .item("SK", s(audit_sk(review.revision)))
            .item("type", s("audit"))
            .item("body", body::encode(audit_body))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(built)?;
        // The comment's inbox item follows the review, filed from the comment read here;
        // the comment is checked unchanged (or, not in the inbox, still not in it).
        for _ in 0..ATTEMPTS {
            let stored = self.item(pk.clone(), "C".into()).await?;
            let comment = stored.as_ref().map(decode).transpose()?;
            let mut items = vec![
                TransactWriteItem::builder().put(item.clone()).build(),
                TransactWriteItem::builder().put(record.clone()).build(),
            ];
            match comment.filter(|c| c.open_urgency().is_some()) {
                Some(c) => {
                    let facets = inbox::filed(&c, Some(review));
                    items.push(inbox::inbox_write(&self.table, &c, facets.as_ref())?);
                    items.push(self.unchanged(&pk, "C", stored.as_ref(), "comment")?);
                }
                None => items.push(self.check(&pk, "C", UNTRIAGED, None)?),
            }
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(Cancelled::Refused(at)) if at.iter().any(|&i| i < 2) => {
                    return Err(StoreError::Conflict);
                }
                Err(Cancelled::Refused(_) | Cancelled::Contended) => continue,
                Err(Cancelled::Failed(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{}: the comment kept changing while its review was written",
            review.key
        )))
    }

    async fn audit(&self, key: &CommentKey) -> Result<Vec<AuditRecord>, StoreError> {
        self.query_prefix(comment_pk(key), "A#")
            .await?
            .iter()
            .map(|item| body_of(item, "audit"))
            .collect()
    }
}

/// Users share one partition (`PK = "USERS"`, `SK = "U#<name>"`): a team is small, and
/// listing it is one `Query`.
const USERS_PK: &str = "USERS";

fn user_sk(name: &UserName) -> String {
    format!("U#{name}")
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn user(&self, name: &UserName) -> Result<Option<User>, StoreError> {
        self.item(USERS_PK.into(), user_sk(name))
            .await?
            .map(|i| body_of(&i, "user"))
            .transpose()
    }

    async fn put_user(&self, user: &User, expected: Option<u64>) -> Result<(), StoreError> {
        let body = serde_json::to_string(user).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let put = self.put_at_revision(
            USERS_PK,
            &user_sk(&user.name),
            "user",
            user.revision,
            expected,
            body,
        )?;
        self.put_all(vec![put]).await
    }

    async fn remove_user(&self, name: &UserName) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(USERS_PK))
            .key("SK", s(user_sk(name)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.query_prefix(USERS_PK.to_owned(), "U#")
            .await?
            .iter()
            .map(|item| body_of(item, "user"))
            .collect()
    }
}

/// Feed states: one partition, a few items (one per feed).
const POLL_PK: &str = "POLL";

#[async_trait]
impl PollStore for DynamoStore {
    async fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, StoreError> {
        self.item(POLL_PK.into(), format!("F#{feed}"))
            .await?
            .map(|i| body_of(&i, "feed state"))
            .transpose()
    }

    async fn put_feed_state(&self, feed: &str, state: &FeedState) -> Result<(), StoreError> {
        let body = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(POLL_PK))
            .item("SK", s(format!("F#{feed}")))
            .item("type", s("feed"))
            .item("body", body::encode(body))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn requested_reads(&self, feed: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_prefix(POLL_PK.into(), &format!("R#{feed}#"))
            .await?;
        let mut reads: Vec<(i64, String)> = items
            .iter()
            .filter_map(|i| {
                let page = i.get("page")?.as_s().ok()?.clone();
                let at = i.get("at")?.as_n().ok()?.parse().ok()?;
                Some((at, page))
            })
            .collect();
        reads.sort();
        Ok(reads.into_iter().take(limit).map(|(_, p)| p).collect())
    }

    async fn done_read(&self, feed: &str, page: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(POLL_PK))
            .key("SK", s(format!("R#{feed}#{page}")))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}

/// A read a webhook asked for: `PK POLL`, `SK R#<feed>#<page>`, kept until the poll
/// function has read it.
#[async_trait]
impl ReadRequests for DynamoStore {
    async fn request_read(&self, feed: &str, page: &str, at: Timestamp) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(POLL_PK))
            .item("SK", s(format!("R#{feed}#{page}")))
            .item("type", s("read"))
            .item("page", s(page))
            .item("at", n(at.millis()))
            // asked again: the first request's time stays
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(()),
                e => Err(unavailable(e)),
            },
        }
    }
}

/// Why a transaction wrote nothing.
enum Cancelled {
    /// The conditions of these items (positions in the transaction) failed.
    Refused(Vec<usize>),
    /// Another transaction was writing one of its items (`TransactionConflict`).
    Contended,
    Failed(StoreError),
}

impl DynamoStore {
    /// Puts in one `TransactWriteItems`: all or none; a failed condition on any is
    /// `Conflict`.
    async fn put_all(&self, puts: Vec<Put>) -> Result<(), StoreError> {
        let items = puts
            .into_iter()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .collect();
        self.transact(items).await.map_err(|e| match e {
            Cancelled::Refused(_) => StoreError::Conflict,
            Cancelled::Contended => {
                StoreError::Unavailable("another transaction was writing the same items".into())
            }
            Cancelled::Failed(e) => e,
        })
    }

    /// One `TransactWriteItems`: all or none.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Cancelled> {
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(e) = written else {
            return Ok(());
        };
        let e = e.into_service_error();
        if let TransactWriteItemsError::TransactionCanceledException(t) = &e {
            let reasons = t.cancellation_reasons();
            let refused: Vec<usize> = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if !refused.is_empty() {
                return Err(Cancelled::Refused(refused));
            }
            if reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"))
            {
                return Err(Cancelled::Contended);
            }
        }
        Err(Cancelled::Failed(unavailable(e)))
    }

    /// A check, in a transaction, that the item `pk`/`sk` is still as `read` (at its
    /// `revision`, or still absent).
    fn unchanged(
        &self,
        pk: &str,
        sk: &str,
        read: Option<&Item>,
        what: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        match read {
            None => self.check(pk, sk, "attribute_not_exists(PK)", None),
            Some(item) => {
                let revision = revision_of(item)
                    .ok_or_else(|| StoreError::Corrupt(format!("{what} item without revision")))?;
                self.check(pk, sk, "revision = :read", Some(n(revision)))
            }
        }
    }

    /// A `ConditionCheck` of the item `pk`/`sk`, with `:read` in the condition if given.
    fn check(
        &self,
        pk: &str,
        sk: &str,
        condition: &str,
        read: Option<AttributeValue>,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .condition_expression(condition)
            .set_expression_attribute_values(read.map(|v| HashMap::from([(":read".into(), v)])))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// An item with a JSON `body` and a numeric `revision`, put only over the revision its
    /// writer read (`None`: only if there is none yet).
    fn put_at_revision(
        &self,
        pk: &str,
        sk: &str,
        kind: &str,
        revision: u64,
        expected: Option<u64>,
        body: String,
    ) -> Result<Put, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item("PK", s(pk))
            .item("SK", s(sk))
            .item("type", s(kind))
            .item("revision", n(revision))
            .item("body", body::encode(body));
        match expected {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(v) => put
                .condition_expression("revision = :expected")
                .expression_attribute_values(":expected", n(v)),
        }
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, in order
    /// (consistent reads, all pages).
    async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Item decoding never panics and never yields a comment without platform and id, or
    //! with neither text nor attachment, whatever the table holds; every comment survives the trip through an item.
    //! `PROPTEST_CASES=10000 cargo nextest run -p vigie-aws dynamo` runs longer.

    use proptest::prelude::*;
    use serde_json::{Value, json};
    use vigie_core::comment::{Author, CommentText, Platform, Sentiment, SentimentScore, Triage};
    use vigie_core::urgency::{Reason, Signal, Urgency};

    use super::*;

    fn config() -> ProptestConfig {
        let mut config = ProptestConfig::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = 256;
        }
        config
    }

    fn state() -> impl Strategy<Value = CommentState> {
        prop::sample::select(vec![
            CommentState::Received,
            CommentState::Queued,
            CommentState::Triaged,
            CommentState::OwnReply,
            CommentState::Deleted,
        ])
    }

    fn probability() -> impl Strategy<Value = f32> {
        (0u32..=1000).prop_map(|k| k as f32 / 1000.0)
    }

    fn triage() -> impl Strategy<Value = Triage> {
        (
            1u32..5,
            (probability(), probability(), probability()),
            0u8..=100,
            any::<bool>(),
            prop::option::of("P[1-3]"),
            prop::option::of(1u32..10_000),
            prop::collection::vec((0u8..=100, "\\PC{0,20}"), 0..3),
            any::<i64>(),
        )
            .prop_map(
                |(
                    version,
                    (negative, neutral, positive),
                    score,
                    escalate,
                    tier,
                    within,
                    reasons,
                    at,
                )| {
                    Triage {
                        version,
                        sentiment: Some(SentimentScore {
                            label: Sentiment::Negative,
                            negative,
                            neutral,
                            positive,
                            model: "vigie-sentiment".into(),
                        }),
                        understanding: None,
                        embedding: None,
                        urgency: Urgency {
                            score,
                            escalate,
                            tier,
                            respond_within_minutes: within,
                            reasons: reasons
                                .into_iter()
                                .map(|(points, evidence)| Reason {
                                    signal: Signal::LegalThreat,
                                    points,
                                    evidence,
                                })
                                .collect(),
                        },
                        triaged_at: Timestamp(at),
                    }
                },
            )
    }

    /// Any comment the domain can build.
    fn comment() -> impl Strategy<Value = Comment> {
        (
            (
                "[a-z0-9][a-z0-9-]{0,20}",
                prop::sample::select(Platform::ALL.to_vec()),
                "\\PC{0,10}[a-z0-9_]\\PC{0,10}",
                "\\PC{1,30}",
                prop::option::of("\\PC{1,30}"),
                prop::option::of("[a-z]{1,12}"),
            ),
            (
                "\\PC{1,20}",
                prop::option::of("\\PC{0,20}"),
                prop::option::of(any::<u64>()),
                "\\PC{0,200}[a-zA-Z0-9!?]",
                prop::option::of("https://\\PC{1,40}"),
            ),
            (
                any::<i64>(),
                0i64..4_102_444_800_000,
                1u32..1000,
                state(),
                prop::option::of(triage()),
                prop::option::of(1u32..1000),
                0u64..u64::MAX,
            ),
        )
            .prop_map(
                |(
                    (brand, platform, id, thread, parent, source),
                    (author, name, followers, text, permalink),
                    (created, received, version, state, triage, escalated, revision),
                )| Comment {
                    key: CommentKey::new(BrandId::parse(brand).unwrap(), platform, id).unwrap(),
                    thread_id: thread,
                    parent_id: parent,
                    source,
                    author: Author {
                        id: author,
                        name,
                        followers,
                    },
                    text: Some(CommentText::parse(text).unwrap()),
                    attachment: None,
                    truncation: None,
                    permalink,
                    created_at: Timestamp(created),
                    received_at: Timestamp(received),
                    version,
                    state,
                    triage,
                    escalated_version: escalated,
                    // a private message when its revision is odd: both kinds round-trip
                    private: revision % 2 == 1,
                    revision,
                },
            )
    }

    /// Any attribute value, a few levels deep.
    fn attribute() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            "\\PC{0,20}".prop_map(AttributeValue::S),
            prop_oneof!["-?[0-9]{1,25}", "\\PC{0,8}"].prop_map(AttributeValue::N),
            prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| AttributeValue::B(Blob::new(b))),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null(true)),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(AttributeValue::L),
                prop::collection::hash_map("[a-z]{1,4}", inner, 0..3).prop_map(AttributeValue::M),
            ]
        })
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A stored comment's JSON with one field, top-level or nested, removed or replaced.
    fn near_valid_body() -> impl Strategy<Value = String> {
        let paths: Vec<&'static [&'static str]> = vec![
            &["key"],
            &["key", "brand"],
            &["key", "platform"],
            &["key", "external_id"],
            &["thread_id"],
            &["author"],
            &["author", "id"],
            &["text"],
            &["created_at"],
            &["received_at"],
            &["version"],
            &["state"],
            &["triage"],
            &["triage", "sentiment"],
            &["triage", "urgency", "score"],
            &["revision"],
        ];
        let replacement = prop_oneof![
            2 => Just(None),
            1 => prop_oneof![Just(json!("")), Just(json!("  ")), Just(json!(-1)), Just(json!(u64::MAX))]
                .prop_map(Some),
            3 => any_json().prop_map(Some),
        ];
        (
            comment(),
            prop::collection::vec((prop::sample::select(paths), replacement), 1..3),
        )
            .prop_map(|(c, changes)| {
                let mut v = serde_json::to_value(&c).expect("serialisable");
                for (path, new) in changes {
                    let (last, parents) = path.split_last().expect("non-empty path");
                    let Some(Value::Object(map)) =
                        parents.iter().try_fold(&mut v, |v, k| v.get_mut(*k))
                    else {
                        continue;
                    };
                    match new {
                        Some(new) => map.insert((*last).to_owned(), new),
                        None => map.remove(*last),
                    };
                }
                v.to_string()
            })
    }

    fn item() -> impl Strategy<Value = Item> {
        let body = prop_oneof![
            3 => near_valid_body().prop_map(AttributeValue::S),
            2 => near_valid_body().prop_map(body::encode),
            1 => comment().prop_map(|c| AttributeValue::S(serde_json::to_string(&c).unwrap())),
            1 => "\\PC{0,40}".prop_map(AttributeValue::S),
            1 => attribute(),
        ];
        let revision = prop_oneof![
            any::<u64>().prop_map(n),
            "-?[0-9]{1,25}".prop_map(AttributeValue::N),
            attribute(),
        ];
        (
            prop::option::of(body),
            prop::option::of(revision),
            prop::collection::hash_map("[A-Za-z0-9]{1,8}", attribute(), 0..4),
        )
            .prop_map(|(body, revision, mut item)| {
                item.extend(body.map(|b| ("body".to_owned(), b)));
                item.extend(revision.map(|r| ("revision".to_owned(), r)));
                item
            })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn comments_survive_the_trip_through_an_item(c in comment()) {
            let item = comment_item(&c).unwrap();
            prop_assert_eq!(decode(&item).unwrap(), c);
        }

        #[test]
        fn decoding_any_item_yields_a_whole_comment_or_corrupt(item in item()) {
            match decode(&item) {
                Ok(c) => {
                    prop_assert!(Platform::ALL.contains(&c.key.platform));
                    prop_assert!(!c.key.external_id.trim().is_empty(), "no id: {c:?}");
                    prop_assert!(
                        c.text.as_ref().is_some_and(|t| !t.as_str().trim().is_empty())
                            || c.attachment.is_some(),
                        "neither text nor attachment: {c:?}"
                    );
                    // What decodes is what a write would store again.
                    let again = decode(&comment_item(&c).unwrap()).unwrap();
                    prop_assert_eq!(again, c);
                }
                Err(e) => prop_assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}"),
            }
        }
    }
}
