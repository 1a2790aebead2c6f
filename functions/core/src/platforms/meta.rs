//! Meta webhooks: Facebook Page `feed` changes (comments) and Instagram `comments`.
//!
//! Facebook: `{"object":"page","entry":[{"id":PAGE,"time":T,"changes":[{"field":"feed",
//! "value":{"item":"comment","verb":"add|edited|remove","comment_id","post_id","parent_id",
//! "from":{"id","name"},"message","created_time","post":{"permalink_url"}}}]}]}`.
//! Instagram: `{"object":"instagram","entry":[{"id":IG_ACCOUNT,"time":T,"changes":[{"field":
//! "comments","value":{"id","text","from":{"id","username"},"media":{"id"},"parent_id"}}]}]}`.
//! Ids arrive as strings or numbers; both are kept as exact strings.

use serde::Deserialize;
use serde_json::Value;

use super::{EventKind, Ignored, MalformedPayload, Parsed, PlatformEvent};
use crate::comment::{Author, Platform};
use crate::time::Timestamp;

#[derive(Deserialize)]
struct Delivery {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: Value,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: Value,
}

/// Ids as exact strings, whether sent as JSON strings or numbers (no float rounding).
fn id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field_id(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(id)
}

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn unix_time(v: Option<&Value>) -> Option<Timestamp> {
    match v? {
        Value::Number(n) => n.as_i64().map(Timestamp::from_unix_seconds),
        Value::String(s) => s
            .parse::<i64>()
            .ok()
            .map(Timestamp::from_unix_seconds)
            .or_else(|| Timestamp::parse_rfc3339(s)),
        _ => None,
    }
}

/// Parses a delivery's bytes. Only a body that is not a Meta delivery at all is an error;
/// changes vigie does not handle (likes, posts, unknown fields, incomplete values) are ignored.
pub fn parse(platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload { platform, reason };
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let expected = match platform {
        Platform::Facebook => "page",
        Platform::Instagram => "instagram",
        Platform::Generic => return Err(malformed("not a Meta platform".into())),
    };
    if delivery.object != expected {
        return Err(malformed(format!(
            "object is {:?}, expected {expected:?}",
            delivery.object
        )));
    }
    let mut parsed = Parsed::default();
    for entry in delivery.entry {
        let Some(account) = id(&entry.id) else {
            parsed.ignored.push(Ignored {
                platform,
                reason: "entry without id".into(),
            });
            continue;
        };
        let entry_time = unix_time(entry.time.as_ref());
        for change in entry.changes {
            let outcome = match platform {
                Platform::Facebook => facebook_change(&account, &change, entry_time),
                _ => instagram_change(&account, &change, entry_time),
            };
            match outcome {
                Ok(event) => parsed.events.push(event),
                Err(reason) => parsed.ignored.push(Ignored { platform, reason }),
            }
        }
    }
    Ok(parsed)
}

fn facebook_change(
    page: &str,
    change: &Change,
    entry_time: Option<Timestamp>,
) -> Result<PlatformEvent, String> {
    let v = &change.value;
    if change.field != "feed" {
        return Err(format!("field {}", change.field));
    }
    let item = text(v, "item").unwrap_or_default();
    if item != "comment" {
        return Err(format!("feed item {item:?}"));
    }
    let verb = text(v, "verb").unwrap_or_default();
    let kind = match verb.as_str() {
        "add" => EventKind::Created,
        "edited" => EventKind::Edited,
        "remove" => EventKind::Deleted,
        other => return Err(format!("comment verb {other:?}")),
    };
    let comment_id = field_id(v, "comment_id").ok_or("comment without comment_id")?;
    let post_id = field_id(v, "post_id").ok_or("comment without post_id")?;
    let from = v.get("from").cloned().unwrap_or(Value::Null);
    let message = text(v, "message");
    if kind != EventKind::Deleted && message.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return Err("comment without text (photo or sticker only)".into());
    }
    let parent = field_id(v, "parent_id").filter(|p| *p != post_id);
    let author_id = field_id(&from, "id");
    Ok(PlatformEvent {
        platform: Platform::Facebook,
        account_id: page.to_owned(),
        kind,
        external_id: comment_id,
        thread_id: post_id,
        parent_id: parent,
        author: Author {
            // Meta omits `from` for some users; the comment is still the brand's to answer.
            id: author_id.clone().unwrap_or_else(|| "unknown".into()),
            name: text(&from, "name"),
            followers: None,
        },
        text: message,
        created_at: unix_time(v.get("created_time")).or(entry_time),
        permalink: v.get("post").and_then(|p| text(p, "permalink_url")),
        source: None,
        from_account: author_id.as_deref() == Some(page),
    })
}

fn instagram_change(
    account: &str,
    change: &Change,
    entry_time: Option<Timestamp>,
) -> Result<PlatformEvent, String> {
    let v = &change.value;
    if change.field != "comments" && change.field != "live_comments" {
        return Err(format!("field {}", change.field));
    }
    let comment_id = field_id(v, "id").ok_or("comment without id")?;
    let media = v
        .get("media")
        .and_then(|m| field_id(m, "id"))
        .ok_or("comment without media id")?;
    let body = text(v, "text")
        .filter(|t| !t.trim().is_empty())
        .ok_or("comment without text")?;
    let from = v.get("from").cloned().unwrap_or(Value::Null);
    let author_id = field_id(&from, "id");
    Ok(PlatformEvent {
        platform: Platform::Instagram,
        account_id: account.to_owned(),
        kind: EventKind::Created,
        external_id: comment_id,
        thread_id: media,
        parent_id: field_id(v, "parent_id"),
        author: Author {
            id: author_id.clone().unwrap_or_else(|| "unknown".into()),
            name: text(&from, "username"),
            followers: None,
        },
        text: Some(body),
        created_at: entry_time,
        permalink: None,
        source: None,
        from_account: author_id.as_deref() == Some(account),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FB: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
      {"field":"feed","value":{"from":{"id":"77","name":"Jeanne"},"post":{"id":"1001_5","permalink_url":"https://www.facebook.com/1001/posts/5"},
       "message":"Toujours pas reçu ma commande \ud83d\ude21","post_id":"1001_5","comment_id":"5_900","created_time":1764086399,
       "item":"comment","parent_id":"1001_5","verb":"add"}},
      {"field":"feed","value":{"item":"reaction","verb":"add","post_id":"1001_5","reaction_type":"like"}},
      {"field":"feed","value":{"item":"comment","verb":"remove","post_id":"1001_5","comment_id":"5_901","parent_id":"5_900","from":{"id":"78"}}}
    ]}]}"#;

    #[test]
    fn facebook_comments_edits_and_deletes() {
        let parsed = parse(Platform::Facebook, FB.as_bytes()).unwrap();
        assert_eq!(parsed.events.len(), 2);
        let e = &parsed.events[0];
        assert_eq!(e.kind, EventKind::Created);
        assert_eq!(e.account_id, "1001");
        assert_eq!(e.external_id, "5_900");
        assert_eq!(e.thread_id, "1001_5");
        assert_eq!(e.parent_id, None);
        assert_eq!(e.text.as_deref(), Some("Toujours pas reçu ma commande 😡"));
        assert_eq!(e.author.name.as_deref(), Some("Jeanne"));
        assert_eq!(e.created_at, Some(Timestamp::from_unix_seconds(1764086399)));
        assert_eq!(
            e.permalink.as_deref(),
            Some("https://www.facebook.com/1001/posts/5")
        );
        let d = &parsed.events[1];
        assert_eq!(d.kind, EventKind::Deleted);
        assert_eq!(d.parent_id.as_deref(), Some("5_900"));
        assert_eq!(parsed.ignored.len(), 1);
        assert!(parsed.ignored[0].reason.contains("reaction"));
    }

    #[test]
    fn instagram_comments_with_numeric_ids_stay_exact() {
        let body = r#"{"object":"instagram","entry":[{"id":17841400000000001,"time":1764086400,"changes":[{"field":"comments",
          "value":{"from":{"id":"2321","username":"lea.b"},"media":{"id":18000000000000001,"media_product_type":"FEED"},
          "id":"17865799348089039","text":"J'adore ❤️"}}]}]}"#;
        let parsed = parse(Platform::Instagram, body.as_bytes()).unwrap();
        let e = &parsed.events[0];
        assert_eq!(e.account_id, "17841400000000001");
        assert_eq!(e.thread_id, "18000000000000001");
        assert_eq!(e.author.name.as_deref(), Some("lea.b"));
        assert_eq!(e.created_at, Some(Timestamp::from_unix_seconds(1764086400)));
    }

    #[test]
    fn not_a_meta_delivery_is_malformed() {
        assert!(parse(Platform::Facebook, b"not json").is_err());
        assert!(parse(Platform::Facebook, br#"{"object":"instagram","entry":[]}"#).is_err());
        assert!(parse(Platform::Instagram, br#"{"entry":[]}"#).is_err());
        assert!(
            parse(Platform::Facebook, br#"{"object":"page","entry":[]}"#)
                .unwrap()
                .events
                .is_empty()
        );
    }
}
