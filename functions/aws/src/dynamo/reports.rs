//! Report facts on DynamoDB: every comment item is on GSI4 (`RCV#<brand>`, received ms), so
//! a period's comments are one range `Query` (paginated); their reviews come by
//! `BatchGetItem`, 100 keys a call. A report reads each comment of the period once: its
//! cost grows with the brand's volume over the period (about 1 read unit per 4 KB).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use vigie_core::comment::BrandId;
use vigie_core::ports::{ReportFacts, StoreError};
use vigie_core::reports::ReportFact;
use vigie_core::review::Review;
use vigie_core::time::Timestamp;

use super::{DynamoStore, Item, comment_pk, decode, n, s, unavailable};

/// Keys a `BatchGetItem` takes at most.
const BATCH: usize = 100;
/// Rounds of unprocessed keys retried before giving up.
const ROUNDS: usize = 8;

pub(super) fn received_pk(brand: &BrandId) -> String {
    format!("RCV#{brand}")
}

impl DynamoStore {
    /// The reviews of `keys` (comment partition keys), by partition key.
    async fn reviews_of(&self, keys: &[String]) -> Result<HashMap<String, Review>, StoreError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(BATCH) {
            let mut wanted: Vec<Item> = chunk
                .iter()
                .map(|pk| {
                    HashMap::from([("PK".to_owned(), s(pk.clone())), ("SK".to_owned(), s("R"))])
                })
                .collect();
            for round in 0.. {
                if wanted.is_empty() {
                    break;
                }
                if round == ROUNDS {
                    return Err(StoreError::Unavailable(
                        "reviews still unprocessed after retries".into(),
                    ));
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(true)
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
                    let Some(pk) = item.get("PK").and_then(|v| v.as_s().ok()) else {
                        continue;
                    };
                    let body = item
                        .get("body")
                        .and_then(|v| v.as_s().ok())
                        .ok_or_else(|| StoreError::Corrupt("review without body".into()))?;
                    let review: Review = serde_json::from_str(body)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    found.insert(pk.clone(), review);
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

#[async_trait]
impl ReportFacts for DynamoStore {
    async fn report_facts(
        &self,
        brand: &BrandId,
        window: std::ops::Range<Timestamp>,
    ) -> Result<Vec<ReportFact>, StoreError> {
        let mut comments = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI4")
                .key_condition_expression("GSI4PK = :pk AND GSI4SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(received_pk(brand)))
                .expression_attribute_values(":from", n(window.start.millis()))
                // the window's end is exclusive
                .expression_attribute_values(":to", n(window.end.millis() - 1))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            for item in out.items() {
                comments.push(decode(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        let keys: Vec<String> = comments.iter().map(|c| comment_pk(&c.key)).collect();
        let reviews = self.reviews_of(&keys).await?;
        Ok(comments
            .iter()
            .filter_map(|c| ReportFact::of(c, reviews.get(&comment_pk(&c.key))))
            .collect())
    }
}
