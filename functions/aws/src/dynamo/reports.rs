//! Report facts on DynamoDB: every comment item is on GSI4 (`RCV#<brand>`, received ms,
//! keys only), so a period's comments are one range `Query` of keys (paginated), then the
//! comments and their reviews by `BatchGetItem`, 50 comments a call. A report reads each
//! comment of the period once: its cost grows with the brand's volume over the period
//! (about half a read unit per comment, one more per review).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use vigie_core::comment::BrandId;
use vigie_core::ports::{ReportFacts, StoreError};
use vigie_core::reports::ReportFact;
use vigie_core::review::Review;
use vigie_core::time::Timestamp;

use super::{DynamoStore, REVIEW_SK, body_of, decode, n, partition_key, s, unavailable};

pub(super) fn received_pk(brand: &BrandId) -> String {
    format!("RCV#{brand}")
}

#[async_trait]
impl ReportFacts for DynamoStore {
    async fn report_facts(
        &self,
        brand: &BrandId,
        window: std::ops::Range<Timestamp>,
    ) -> Result<Vec<ReportFact>, StoreError> {
        let mut pks = Vec::new();
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
                pks.push(partition_key(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        let keys: Vec<(String, String)> = pks
            .iter()
            .flat_map(|pk| {
                [
                    (pk.clone(), "C".to_owned()),
                    (pk.clone(), REVIEW_SK.to_owned()),
                ]
            })
            .collect();
        let mut items = self.batch_get(&keys, false).await?;
        let mut facts = Vec::with_capacity(pks.len());
        for pk in pks {
            let Some(comment) = items.remove(&(pk.clone(), "C".to_owned())) else {
                continue;
            };
            let comment = decode(&comment)?;
            let review: Option<Review> = items
                .remove(&(pk, REVIEW_SK.to_owned()))
                .map(|i| body_of(&i, "review"))
                .transpose()?;
            facts.extend(ReportFact::of(&comment, review.as_ref()));
        }
        Ok(facts)
    }
}
