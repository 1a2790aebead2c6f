//! The managers' inbox on SQLite: one row per listed comment (table `inbox`), written in
//! the same transaction as the comment or the review it comes from, so the inbox never
//! disagrees with them. Pages come off the index in inbox order. Counts come from a tally
//! (`inbox_tally`, kept by triggers on `inbox`, so in the same transaction): rows per
//! platform, sentiment, intent, status and whether an answer is due, read as if no claim
//! held and every due date had passed; the few rows for which that is not true at the
//! instant asked (a live claim, a due date still ahead) are read one by one and
//! corrected. A count costs the tally's few hundred rows plus the comments received
//! within their deadline, not the brand's whole inbox.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use vigie_core::comment::{BrandId, Comment, Platform, Sentiment};
use vigie_core::inbox::{
    Assignee, FacetValues, InboxCounts, InboxCursor, InboxFacets, InboxFilter, InboxItem,
    InboxPage, LISTED,
};
use vigie_core::ports::{Inbox, StoreError};
use vigie_core::review::{Review, ReviewStatus};
use vigie_core::time::Timestamp;
use vigie_core::understanding::Intent;

use crate::{SqliteStore, decode, unavailable};

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS inbox (
    key TEXT PRIMARY KEY REFERENCES comments (key),
    brand TEXT NOT NULL,
    urgency INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    platform TEXT NOT NULL,
    external_id TEXT NOT NULL,
    sentiment TEXT,
    intent TEXT,
    sla_due INTEGER,
    status TEXT NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER
);
-- the inbox order, then every column a filter reads: a page with a rare filter walks
-- this index alone, without a row lookup per comment it passes over
DROP INDEX IF EXISTS inbox_order;
CREATE INDEX IF NOT EXISTS inbox_queue ON inbox (brand, urgency DESC, received_at, platform,
    external_id, status, sentiment, intent, sla_due, claimed_by, claimed_until, key);
CREATE INDEX IF NOT EXISTS comments_by_brand ON comments (brand, received_at);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox (brand, sla_due);
CREATE INDEX IF NOT EXISTS inbox_claims ON inbox (brand, claimed_until);
CREATE TABLE IF NOT EXISTS inbox_tally (
    brand TEXT NOT NULL,
    platform TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    intent TEXT NOT NULL,
    status TEXT NOT NULL,
    due INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (brand, platform, sentiment, intent, status, due)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS inbox_tally_insert AFTER INSERT ON inbox BEGIN
    INSERT INTO inbox_tally VALUES (NEW.brand, NEW.platform, COALESCE(NEW.sentiment, ''),
        COALESCE(NEW.intent, ''), NEW.status, NEW.sla_due IS NOT NULL, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS inbox_tally_delete AFTER DELETE ON inbox BEGIN
    UPDATE inbox_tally SET n = n - 1 WHERE brand = OLD.brand AND platform = OLD.platform
        AND sentiment = COALESCE(OLD.sentiment, '') AND intent = COALESCE(OLD.intent, '')
        AND status = OLD.status AND due = (OLD.sla_due IS NOT NULL);
END;
CREATE TRIGGER IF NOT EXISTS inbox_tally_update AFTER UPDATE ON inbox BEGIN
    UPDATE inbox_tally SET n = n - 1 WHERE brand = OLD.brand AND platform = OLD.platform
        AND sentiment = COALESCE(OLD.sentiment, '') AND intent = COALESCE(OLD.intent, '')
        AND status = OLD.status AND due = (OLD.sla_due IS NOT NULL);
    INSERT INTO inbox_tally VALUES (NEW.brand, NEW.platform, COALESCE(NEW.sentiment, ''),
        COALESCE(NEW.intent, ''), NEW.status, NEW.sla_due IS NOT NULL, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
"#;

/// The inbox's shape version, in `PRAGMA user_version`: a database written before the
/// inbox existed is filed once when opened (1), and one written before the tally has it
/// counted once (2).
const INBOX_VERSION: i64 = 2;

fn sql_error(e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

/// Files the comment stored under `key` again, from itself and its review: a row when it
/// is listed, none otherwise. Runs inside the caller's write.
pub(crate) fn refile(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    let comment: Option<String> = conn
        .query_row(
            "SELECT body FROM comments WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?;
    let review: Option<String> = conn
        .query_row(
            "SELECT body FROM reviews WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?;
    let comment = comment
        .map(|b| serde_json::from_str::<Comment>(&b))
        .transpose()
        .map_err(sql_error)?;
    let review = review
        .map(|b| serde_json::from_str::<Review>(&b))
        .transpose()
        .map_err(sql_error)?;
    let facets = comment
        .as_ref()
        .and_then(|c| InboxFacets::of(c, review.as_ref()).map(|f| (c, f)))
        .filter(|(_, f)| LISTED.contains(&f.status));
    let Some((c, f)) = facets else {
        conn.execute("DELETE FROM inbox WHERE key = ?1", params![key])?;
        return Ok(());
    };
    conn.execute(
        "INSERT INTO inbox (key, brand, urgency, received_at, platform, external_id, sentiment,
                            intent, sla_due, status, claimed_by, claimed_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (key) DO UPDATE SET urgency = excluded.urgency,
             received_at = excluded.received_at, sentiment = excluded.sentiment,
             intent = excluded.intent, sla_due = excluded.sla_due, status = excluded.status,
             claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until",
        params![
            key,
            c.key.brand.as_str(),
            f.urgency,
            c.received_at.millis(),
            f.platform.as_str(),
            c.key.external_id,
            f.sentiment.map(|s| s.as_str()),
            f.intent.map(|i| i.as_str()),
            f.sla_due.map(|t| t.millis()),
            f.status.as_str(),
            f.claimed_by,
            f.claimed_until.map(|t| t.millis()),
        ],
    )?;
    Ok(())
}

/// Files every comment of a database written before the inbox existed, and counts the
/// inbox of one written before its tally.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= INBOX_VERSION {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let filed = (|| {
        conn.execute_batch(
            "DELETE FROM inbox_tally;
             INSERT INTO inbox_tally
             SELECT brand, platform, COALESCE(sentiment, ''), COALESCE(intent, ''), status,
                    sla_due IS NOT NULL, COUNT(*)
             FROM inbox GROUP BY 1, 2, 3, 4, 5, 6;",
        )?;
        if version < 1 {
            let keys: Vec<String> = conn
                .prepare("SELECT key FROM comments WHERE state = 'triaged'")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for k in &keys {
                refile(conn, k)?;
            }
        }
        conn.execute_batch(&format!("PRAGMA user_version = {INBOX_VERSION}"))
    })();
    match filed {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The `WHERE` of a filter over `inbox` (after `brand = ?1` and `?2` = now), with its
/// arguments from `?3` on.
fn conditions(filter: &InboxFilter, args: &mut Vec<rusqlite::types::Value>) -> String {
    let mut sql = String::new();
    let arg = |args: &mut Vec<rusqlite::types::Value>, v: rusqlite::types::Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    let statuses: Vec<String> = filter
        .statuses()
        .iter()
        .map(|s| arg(args, s.as_str().to_owned().into()))
        .collect();
    sql.push_str(&format!(" AND status IN ({})", statuses.join(", ")));
    if let Some(p) = filter.platform {
        sql.push_str(&format!(
            " AND platform = {}",
            arg(args, p.as_str().to_owned().into())
        ));
    }
    if let Some(s) = filter.sentiment {
        sql.push_str(&format!(
            " AND sentiment = {}",
            arg(args, s.as_str().to_owned().into())
        ));
    }
    if let Some(i) = filter.intent {
        sql.push_str(&format!(
            " AND intent = {}",
            arg(args, i.as_str().to_owned().into())
        ));
    }
    match filter.sla_breached {
        Some(true) => sql.push_str(" AND sla_due < ?2"),
        Some(false) => sql.push_str(" AND (sla_due IS NULL OR sla_due >= ?2)"),
        None => {}
    }
    match &filter.assignee {
        Some(Assignee::Nobody) => {
            sql.push_str(" AND (claimed_by IS NULL OR claimed_until <= ?2)");
        }
        Some(Assignee::User(u)) => sql.push_str(&format!(
            " AND claimed_by = {} AND claimed_until > ?2",
            arg(args, u.clone().into())
        )),
        None => {}
    }
    sql
}

#[async_trait]
impl Inbox for SqliteStore {
    async fn inbox(
        &self,
        brand: &BrandId,
        filter: &InboxFilter,
        after: Option<&InboxCursor>,
        limit: usize,
        now: Timestamp,
    ) -> Result<InboxPage, StoreError> {
        let limit = limit.clamp(1, 500);
        let mut args: Vec<rusqlite::types::Value> =
            vec![brand.as_str().to_owned().into(), now.millis().into()];
        let mut sql = String::from(
            "SELECT c.body, i.sla_due, i.status, i.claimed_by, i.claimed_until, i.urgency
             FROM inbox i INDEXED BY inbox_queue JOIN comments c ON c.key = i.key
             WHERE i.brand = ?1",
        );
        sql.push_str(&conditions(filter, &mut args));
        if let Some(c) = after {
            let base = args.len();
            args.extend([
                i64::from(c.urgency).into(),
                c.received_at.millis().into(),
                c.key.platform.as_str().to_owned().into(),
                c.key.external_id.clone().into(),
            ]);
            let (u, r, p, id) = (base + 1, base + 2, base + 3, base + 4);
            sql.push_str(&format!(
                " AND (i.urgency < ?{u} OR (i.urgency = ?{u} AND (i.received_at > ?{r}
                   OR (i.received_at = ?{r} AND (i.platform > ?{p}
                   OR (i.platform = ?{p} AND i.external_id > ?{id}))))))"
            ));
        }
        // One more than asked tells whether there is a next page.
        args.push(((limit + 1) as i64).into());
        sql.push_str(&format!(
            " ORDER BY i.urgency DESC, i.received_at, i.platform, i.external_id LIMIT ?{}",
            args.len()
        ));
        let rows = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(unavailable)?;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        for (body, sla_due, status, claimed_by, claimed_until, urgency) in rows {
            let comment = decode(&body)?;
            let triage = comment.triage.as_ref();
            let facets = InboxFacets {
                urgency: u8::try_from(urgency).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                platform: comment.key.platform,
                sentiment: triage.and_then(|t| t.sentiment.as_ref()).map(|s| s.label),
                intent: triage
                    .and_then(|t| t.understanding.as_ref())
                    .map(|u| u.intent),
                sla_due: sla_due.map(Timestamp),
                status: ReviewStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("review status {status:?}")))?,
                claimed_by,
                claimed_until: claimed_until.map(Timestamp),
            };
            items.push(InboxItem { comment, facets });
        }
        Ok(InboxPage::of(items, limit))
    }

    async fn inbox_counts(
        &self,
        brand: &BrandId,
        filter: &InboxFilter,
        now: Timestamp,
    ) -> Result<InboxCounts, StoreError> {
        type Group = (String, String, String, String, bool, i64);
        type Exception = (
            String,
            Option<String>,
            Option<String>,
            String,
            Option<i64>,
            Option<String>,
            Option<i64>,
        );
        let (brand, at) = (brand.as_str().to_owned(), now.millis());
        let (groups, exceptions) = self
            .db
            .read(move |conn| {
                let groups = conn
                    .prepare_cached(
                        "SELECT platform, sentiment, intent, status, due, n
                         FROM inbox_tally WHERE brand = ?1 AND n > 0",
                    )?
                    .query_map(params![brand], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<Group>>>()?;
                // the rows the tally reads wrong at this instant: a live claim, a due date
                // not passed yet
                let exceptions = conn
                    .prepare_cached(
                        "SELECT key, platform, sentiment, intent, status, sla_due, claimed_by,
                                claimed_until
                         FROM inbox WHERE brand = ?1 AND sla_due >= ?2
                         UNION
                         SELECT key, platform, sentiment, intent, status, sla_due, claimed_by,
                                claimed_until
                         FROM inbox WHERE brand = ?1 AND claimed_until > ?2",
                    )?
                    .query_map(params![brand, at], |r| {
                        Ok((
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<Exception>>>()?;
                Ok::<_, rusqlite::Error>((groups, exceptions))
            })
            .await
            .map_err(unavailable)?;
        let bad = |what: &str| StoreError::Corrupt(format!("inbox {what}"));
        let values =
            |platform: &str, sentiment: Option<&str>, intent: Option<&str>, status: &str| {
                Ok::<_, StoreError>(FacetValues {
                    platform: Platform::parse(platform).map_err(|_| bad("platform"))?,
                    sentiment: sentiment.and_then(Sentiment::parse),
                    intent: intent.and_then(Intent::parse),
                    status: ReviewStatus::parse(status).ok_or_else(|| bad("status"))?,
                    assignee: None,
                    sla_breached: false,
                })
            };
        let mut cube: HashMap<FacetValues, i64> = HashMap::with_capacity(groups.len());
        for (platform, sentiment, intent, status, due, n) in &groups {
            let v = FacetValues {
                sla_breached: *due,
                ..values(platform, Some(sentiment), Some(intent), status)?
            };
            *cube.entry(v).or_default() += n;
        }
        for (platform, sentiment, intent, status, due, by, until) in &exceptions {
            let v = values(platform, sentiment.as_deref(), intent.as_deref(), status)?;
            let facets = InboxFacets {
                urgency: 0,
                platform: v.platform,
                sentiment: v.sentiment,
                intent: v.intent,
                sla_due: due.map(Timestamp),
                status: v.status,
                claimed_by: by.clone(),
                claimed_until: until.map(Timestamp),
            };
            let tallied = FacetValues {
                sla_breached: due.is_some(),
                ..v
            };
            *cube.entry(tallied).or_default() -= 1;
            *cube.entry(facets.at(now)).or_default() += 1;
        }
        Ok(InboxCounts::tally(
            filter,
            cube.iter()
                .filter(|(_, n)| **n > 0)
                .map(|(v, n)| (v, *n as u64)),
        ))
    }
}

#[async_trait]
impl vigie_core::ports::ReportFacts for SqliteStore {
    async fn report_facts(
        &self,
        brand: &BrandId,
        window: std::ops::Range<Timestamp>,
    ) -> Result<Vec<vigie_core::reports::ReportFact>, StoreError> {
        let (brand, from, to) = (
            brand.as_str().to_owned(),
            window.start.millis(),
            window.end.millis(),
        );
        let rows = self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT c.body, r.body FROM comments c LEFT JOIN reviews r ON r.key = c.key
                     WHERE c.brand = ?1 AND c.received_at >= ?2 AND c.received_at < ?3",
                )?;
                let rows = stmt.query_map(params![brand, from, to], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(unavailable)?;
        let mut facts = Vec::with_capacity(rows.len());
        for (comment, review) in rows {
            let comment = decode(&comment)?;
            let review: Option<Review> = review
                .map(|b| serde_json::from_str(&b))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            facts.extend(vigie_core::reports::ReportFact::of(
                &comment,
                review.as_ref(),
            ));
        }
        Ok(facts)
    }
}
