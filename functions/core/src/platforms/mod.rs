//! Platform payloads to platform events: parsing only, before brands are known.

pub mod generic;
pub mod meta;

use crate::comment::{Author, Platform};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Edited,
    Deleted,
}

/// One comment event as a platform reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformEvent {
    pub platform: Platform,
    /// The brand's account the event is about (Facebook page id, Instagram account id);
    /// for the generic webhook, the source name.
    pub account_id: String,
    pub kind: EventKind,
    pub external_id: String,
    pub thread_id: String,
    pub parent_id: Option<String>,
    pub author: Author,
    /// Present for created and edited comments.
    pub text: Option<String>,
    pub created_at: Option<Timestamp>,
    pub permalink: Option<String>,
    pub source: Option<String>,
    /// Written by the brand's own account (a reply of the page, of the Instagram account...).
    pub from_account: bool,
}

/// A change in a delivery that is not a comment event vigie handles; acknowledged and counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub platform: Platform,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<PlatformEvent>,
    pub ignored: Vec<Ignored>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {platform} payload: {reason}")]
pub struct MalformedPayload {
    pub platform: Platform,
    pub reason: String,
}
