//! Filing again every comment of a table in the managers' inbox: for a table written
//! before the inbox existed (its comments have no inbox item) or by an older vigie (inbox
//! entries holding the comment, comment items without `open_urgency`), or to mend one.
//! Each comment is filed as a write of it or of its review files it, in a transaction that
//! checks both unchanged since they were read (the comment is put again at the revision
//! read when its item is not in today's layout), so a refile running beside the pipeline
//! never puts back a stale entry.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use vigie_core::ports::StoreError;

use super::inbox::{self, INBOX_SK};
use super::{
    ATTEMPTS, Cancelled, DynamoStore, Item, REVIEW_SK, body_of, comment_item, decode, n, s,
    unavailable,
};

/// What a refile did, so far or in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refiled {
    /// Comment items read.
    pub seen: u64,
    /// Inbox items written (missing, or not as the comment and review file them now).
    pub filed: u64,
    /// Inbox items deleted (their comment is not in the inbox any more).
    pub removed: u64,
    /// Comments whose inbox item (or its absence) was already right.
    pub unchanged: u64,
    /// Comment items written again in today's layout (counted in the above too).
    pub rewritten: u64,
}

enum Outcome {
    Filed,
    Removed,
    Unchanged,
}

/// What filing one comment did: to its inbox item, and whether its item was rewritten.
struct Done(Outcome, bool);

impl DynamoStore {
    /// Files every comment of the table in the inbox as its comment and review say now;
    /// `progress` hears the running counts after each page of comments.
    pub async fn refile_inbox(
        &self,
        progress: &mut (dyn FnMut(Refiled) + Send),
    ) -> Result<Refiled, StoreError> {
        let mut done = Refiled::default();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("SK = :comment")
                .expression_attribute_values(":comment", s("C"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            for item in page.items() {
                done.seen += 1;
                let Done(outcome, rewritten) = self.refile_one(item).await?;
                match outcome {
                    Outcome::Filed => done.filed += 1,
                    Outcome::Removed => done.removed += 1,
                    Outcome::Unchanged => done.unchanged += 1,
                }
                done.rewritten += u64::from(rewritten);
            }
            progress(done);
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(done),
            }
        }
    }

    /// Files one comment, read first from the scan, then again on each conflict.
    async fn refile_one(&self, scanned: &Item) -> Result<Done, StoreError> {
        let pk = match scanned.get("PK") {
            Some(AttributeValue::S(pk)) => pk.clone(),
            _ => return Err(StoreError::Corrupt("comment item without PK".into())),
        };
        for _ in 0..ATTEMPTS {
            let Some(stored) = self.item(pk.clone(), "C".into()).await? else {
                return Ok(Done(Outcome::Unchanged, false));
            };
            let comment = decode(&stored)?;
            let layout = comment_item(&comment)?;
            let rewrite = layout != stored;
            let review_item = self.item(pk.clone(), REVIEW_SK.into()).await?;
            let review = review_item
                .as_ref()
                .map(|i| body_of(i, "review"))
                .transpose()?;
            let facets = comment
                .open_urgency()
                .and_then(|_| inbox::filed(&comment, review.as_ref()));
            let entry = self.item(pk.clone(), INBOX_SK.into()).await?;
            let wanted = facets.as_ref().map(|f| inbox::inbox_item(&comment, f));
            let outcome = match (&entry, &wanted) {
                (None, None) => Outcome::Unchanged,
                (Some(have), Some(want)) if have == want => Outcome::Unchanged,
                (Some(_), None) => Outcome::Removed,
                (_, Some(_)) => Outcome::Filed,
            };
            if matches!(outcome, Outcome::Unchanged) && !rewrite {
                return Ok(Done(outcome, false));
            }
            let comment_write = if rewrite {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(layout))
                    .condition_expression("revision = :read")
                    .expression_attribute_values(":read", n(comment.revision))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                TransactWriteItem::builder().put(put).build()
            } else {
                self.unchanged(&pk, "C", Some(&stored), "comment")?
            };
            let items = vec![
                inbox::inbox_write(&self.table, &comment, facets.as_ref())?,
                comment_write,
                self.unchanged(&pk, REVIEW_SK, review_item.as_ref(), "review")?,
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(Done(outcome, rewrite)),
                // the comment or its review was written meanwhile: file what is there now
                Err(Cancelled::Refused(_) | Cancelled::Contended) => continue,
                Err(Cancelled::Failed(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{pk}: the comment kept changing while it was filed"
        )))
    }
}
