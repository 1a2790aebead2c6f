//! Chat notifications for escalation events: Slack and Microsoft Teams incoming webhooks.

use serde_json::{Value, json};

use crate::config::NotifyFormat;
use crate::escalation::EscalationEvent;

fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

fn headline(e: &EscalationEvent) -> String {
    format!(
        "[{}] {} on {}: urgency {}/100{}",
        e.urgency.tier.as_deref().unwrap_or("urgent"),
        e.brand,
        e.source.as_deref().unwrap_or(e.platform.as_str()),
        e.urgency.score,
        e.urgency
            .respond_within_minutes
            .map(|m| format!(", answer within {m} min"))
            .unwrap_or_default()
    )
}

fn reasons(e: &EscalationEvent) -> String {
    e.urgency
        .reasons
        .iter()
        .map(|r| format!("+{} {:?}: {}", r.points, r.signal, r.evidence))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON body to post to the brand's incoming webhook.
pub fn payload(format: NotifyFormat, e: &EscalationEvent) -> Value {
    let who = e.author.name.as_deref().unwrap_or(&e.author.id);
    let quote = match (&e.text, &e.attachment) {
        (Some(text), _) => excerpt(text, 500),
        (None, Some(a)) => match &a.url {
            Some(url) => format!("[{}] {url}", a.kind.as_str()),
            None => format!("[{}]", a.kind.as_str()),
        },
        (None, None) => String::new(),
    };
    match format {
        NotifyFormat::Slack => {
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": excerpt(&headline(e), 150)}}),
                json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{who}*: {quote}")}}),
                json!({"type": "context", "elements": [{"type": "mrkdwn", "text": reasons(e)}]}),
            ];
            if let Some(link) = &e.permalink {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("<{link}|Open on {}>", e.platform)}}));
            }
            json!({"text": format!("{}: {quote}", headline(e)), "blocks": blocks})
        }
        NotifyFormat::Teams => {
            let mut body = vec![
                json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": headline(e), "wrap": true}),
                json!({"type": "TextBlock", "text": format!("**{who}**: {quote}"), "wrap": true}),
                json!({"type": "TextBlock", "text": reasons(e), "isSubtle": true, "wrap": true}),
            ];
            let mut actions = Vec::new();
            if let Some(link) = &e.permalink {
                actions.push(json!({"type": "Action.OpenUrl", "title": format!("Open on {}", e.platform), "url": link}));
            }
            body.push(json!({"type": "TextBlock", "text": format!("event {}", e.event_id), "isSubtle": true, "size": "Small"}));
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                        "actions": actions
                    }
                }]
            })
        }
    }
}

/// Whether an HTTP status from the chat service is worth another try.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_on_characters() {
        assert_eq!(excerpt("héhé", 2), "hé…");
        assert_eq!(excerpt("ok", 5), "ok");
    }

    #[test]
    fn retry_policy() {
        assert!(retryable_status(503));
        assert!(retryable_status(429));
        assert!(!retryable_status(400));
        assert!(!retryable_status(404));
    }
}
