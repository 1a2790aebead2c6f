//! Brand content: the voice profile, the approved replies and facts, the brand's words.
//! Data that managers change during the day, kept in the store and versioned
//! ([`crate::ports::BrandContentStore`]); moved from and to plain files (docs/brand-content.md)
//! by [`BrandContent::from_files`] and [`BrandContent::to_files`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::comment::BrandId;
use crate::time::Timestamp;
use crate::understanding::{Embedding, Intent};

named_enum! {
    /// What a reply may touch, for the policies.
    Topic {
        Refund => "refund",
        Compensation => "compensation",
        Discount => "discount",
        DeliveryDate => "delivery_date",
        Stock => "stock",
        OpeningHours => "opening_hours",
        Fit => "fit",
        Price => "price",
        Order => "order",
        Account => "account",
        PersonalData => "personal_data",
        Safety => "safety",
        LegalThreat => "legal_threat",
        Press => "press",
    }
}

named_enum! {
    /// What to do with a comment.
    Action {
        ReplyPublic => "reply_public",
        ReplyPrivate => "reply_private",
        Escalate => "escalate",
        Hide => "hide",
        NoReply => "no_reply",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrenchAddress {
    Vous,
    Tu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnglishRegister {
    /// No contractions.
    Formal,
    Casual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherLanguages {
    /// A short polite reply in the brand's first language.
    PoliteReply,
    NoReply,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    #[serde(default)]
    pub never_promise: Vec<Topic>,
    #[serde(default)]
    pub private_topics: Vec<Topic>,
    #[serde(default)]
    pub escalate_topics: Vec<Topic>,
    #[serde(default)]
    pub admit_liability: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceProfile {
    pub brand: String,
    /// Languages served (ISO 639-1); the first is the default.
    pub languages: Vec<String>,
    pub other_languages: OtherLanguages,
    pub tone: String,
    /// Verbatim, the last line of every reply, in every language.
    pub sign_off: String,
    #[serde(default)]
    pub emoji_max: u8,
    #[serde(default)]
    pub french_address: Option<FrenchAddress>,
    #[serde(default)]
    pub french_typography: bool,
    #[serde(default)]
    pub english_register: Option<EnglishRegister>,
    #[serde(default)]
    pub banned_words: Vec<String>,
    #[serde(default)]
    pub allowed_links: Vec<String>,
    /// `<lang>` and `<lang>_no_name` per language served.
    pub greeting: BTreeMap<String, String>,
    #[serde(default)]
    pub preferred_words: BTreeMap<String, String>,
    /// The private channel to offer, per language served.
    pub contact: BTreeMap<String, String>,
    /// Characters per platform, over the defaults ([`default_reply_length`]).
    #[serde(default)]
    pub reply_length: BTreeMap<String, usize>,
    pub policies: Policies,
}

/// Each platform's own limit for a reply, in characters (X: weighted characters).
pub fn default_reply_length(platform: &str) -> Option<usize> {
    Some(match platform {
        "facebook" => 8000,
        "instagram" => 2200,
        "x" => 280,
        "linkedin" => 1250,
        "tiktok" => 150,
        "youtube" => 10000,
        "generic" => 1000,
        _ => return None,
    })
}

pub const PLATFORM_NAMES: [&str; 7] = [
    "facebook",
    "instagram",
    "x",
    "linkedin",
    "tiktok",
    "youtube",
    "generic",
];

impl VoiceProfile {
    pub fn default_language(&self) -> &str {
        &self.languages[0]
    }

    pub fn serves(&self, lang: &str) -> bool {
        self.languages.iter().any(|l| l == lang)
    }

    /// The language a reply to a comment in `comment_lang` is written in: that one when
    /// the brand serves it, else the brand's first.
    pub fn reply_language<'a>(&'a self, comment_lang: &'a str) -> &'a str {
        if self.serves(comment_lang) {
            comment_lang
        } else {
            self.default_language()
        }
    }

    pub fn reply_limit(&self, platform: &str) -> usize {
        self.reply_length
            .get(platform)
            .copied()
            .or_else(|| default_reply_length(platform))
            .unwrap_or(1000)
    }

    pub fn greeting(&self, lang: &str, first_name: Option<&str>) -> Option<String> {
        match first_name {
            Some(name) => self
                .greeting
                .get(lang)
                .map(|g| g.replace("{first_name}", name)),
            None => self.greeting.get(&format!("{lang}_no_name")).cloned(),
        }
    }

    pub fn never_promises(&self, topic: Topic) -> bool {
        self.policies.never_promise.contains(&topic)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedReply {
    pub id: String,
    pub lang: String,
    pub intents: Vec<Intent>,
    pub action: Action,
    /// The body: the greeting goes before it, the sign-off after it.
    pub text: String,
    /// A shorter body with the same meaning, for platforms whose reply limit the text
    /// passes (TikTok's 150 characters); its slots are among the text's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<String>,
    /// A reply, in the brand's first language, for comments in a language it does not serve.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub for_other_languages: bool,
    /// Its embedding, computed when the content is imported (drafting needs no model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub id: String,
    pub topic: Topic,
    pub lang: String,
    pub text: String,
}

/// One version of a brand's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandContent {
    pub brand: BrandId,
    /// 1 for the first import; each store increments it.
    pub version: u32,
    pub voice: VoiceProfile,
    pub replies: Vec<ApprovedReply>,
    pub facts: Vec<Fact>,
    /// Brand and place names: the spelling check accepts them.
    pub words: Vec<String>,
    /// Product names: the only words a `{product}` slot is filled with (from the comment);
    /// the spelling check accepts them too.
    #[serde(default)]
    pub products: Vec<String>,
    /// The model that computed the approved replies' embeddings: retrieval compares them
    /// only with comments embedded by the same model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
    pub updated_at: Timestamp,
    /// Who stored this version (a user, or "import").
    pub updated_by: String,
}

/// The plain files of a brand's content folder (also what the review page's editor and
/// its API exchange).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentFiles {
    pub voice: String,
    pub replies: String,
    pub facts: String,
    pub words: String,
    pub products: String,
}

impl ContentFiles {
    pub const NAMES: [&'static str; 5] = [
        "voice.toml",
        "replies.toml",
        "facts.toml",
        "words.txt",
        "products.txt",
    ];
}

impl ContentFiles {
    /// The files of a brand folder; `words.txt` and `products.txt` may be missing.
    pub fn read_dir(dir: &std::path::Path) -> Result<Self, ContentError> {
        let read = |name: &str, optional: bool| match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(text),
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(ContentError {
                file: dir.join(name).display().to_string(),
                line: None,
                field: None,
                reason: format!("cannot read it: {e}"),
            }),
        };
        Ok(Self {
            voice: read("voice.toml", false)?,
            replies: read("replies.toml", false)?,
            facts: read("facts.toml", false)?,
            words: read("words.txt", true)?,
            products: read("products.txt", true)?,
        })
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// What is wrong with a content file: the file, the field, the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {reason}", .line.map(|l| format!(":{l}")).unwrap_or_default(), .field.as_ref().map(|f| format!(": field `{f}`")).unwrap_or_default())]
pub struct ContentError {
    pub file: String,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub reason: String,
}

fn err(file: &str, field: impl Into<String>, reason: impl Into<String>) -> ContentError {
    ContentError {
        file: file.into(),
        line: None,
        field: Some(field.into()),
        reason: reason.into(),
    }
}

/// A TOML error as file, line, the key on that line and the parser's reason.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> ContentError {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let field = line.and_then(|l| {
        let src = text.lines().nth(l - 1)?;
        let key = src.split('=').next()?.trim().trim_matches('"');
        (!key.is_empty() && !key.starts_with('[') && !key.starts_with('{')).then(|| key.to_owned())
    });
    ContentError {
        file: file.into(),
        line,
        field,
        reason: e.message().trim().to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepliesFile {
    #[serde(default)]
    replies: Vec<ApprovedReply>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactsFile {
    #[serde(default)]
    facts: Vec<Fact>,
}

#[derive(Serialize)]
struct RepliesOut<'a> {
    replies: Vec<ReplyOut<'a>>,
}

#[derive(Serialize)]
struct ReplyOut<'a> {
    id: &'a str,
    lang: &'a str,
    intents: &'a [Intent],
    action: Action,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    short: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    for_other_languages: bool,
}

#[derive(Serialize)]
struct FactsOut<'a> {
    facts: &'a [Fact],
}

/// A slot of a reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Contact,
    Product,
    OrderRef,
    Fact(String),
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Contact => f.write_str("{contact}"),
            Slot::Product => f.write_str("{product}"),
            Slot::OrderRef => f.write_str("{order_ref}"),
            Slot::Fact(id) => write!(f, "{{fact:{id}}}"),
        }
    }
}

/// The slots of a body, in order; `Err` names an unknown one.
pub fn slots(text: &str) -> Result<Vec<Slot>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err("a '{' without its '}'".into());
        };
        let name = &rest[start + 1..start + len];
        out.push(match name {
            "contact" => Slot::Contact,
            "product" => Slot::Product,
            "order_ref" => Slot::OrderRef,
            _ => match name.strip_prefix("fact:") {
                Some(id) if !id.is_empty() => Slot::Fact(id.to_owned()),
                _ => return Err(format!("unknown slot {{{name}}}")),
            },
        });
        rest = &rest[start + len + 1..];
    }
    Ok(out)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_lang(l: &str) -> bool {
    l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())
}

impl BrandContent {
    /// Parses and validates a brand's files; `version` and `updated_*` are the store's.
    pub fn from_files(
        brand: &BrandId,
        files: &ContentFiles,
        updated_at: Timestamp,
        updated_by: &str,
    ) -> Result<Self, ContentError> {
        let voice: VoiceProfile =
            toml::from_str(&files.voice).map_err(|e| toml_error("voice.toml", &files.voice, &e))?;
        let replies: RepliesFile = toml::from_str(&files.replies)
            .map_err(|e| toml_error("replies.toml", &files.replies, &e))?;
        let facts: FactsFile =
            toml::from_str(&files.facts).map_err(|e| toml_error("facts.toml", &files.facts, &e))?;
        let words = lines(&files.words);
        let products = lines(&files.products);
        let content = Self {
            brand: brand.clone(),
            version: 0,
            voice,
            replies: replies.replies,
            facts: facts.facts,
            words,
            products,
            embedding_model: None,
            updated_at,
            updated_by: updated_by.to_owned(),
        };
        content.validate()?;
        Ok(content)
    }

    /// The files that [`BrandContent::from_files`] reads back to the same content.
    pub fn to_files(&self) -> ContentFiles {
        let replies = RepliesOut {
            replies: self
                .replies
                .iter()
                .map(|r| ReplyOut {
                    id: &r.id,
                    lang: &r.lang,
                    intents: &r.intents,
                    action: r.action,
                    text: &r.text,
                    short: r.short.as_deref(),
                    for_other_languages: r.for_other_languages,
                })
                .collect(),
        };
        ContentFiles {
            voice: toml::to_string(&self.voice).expect("a voice profile serialises"),
            replies: toml::to_string(&replies).expect("replies serialise"),
            facts: toml::to_string(&FactsOut { facts: &self.facts }).expect("facts serialise"),
            words: self.words.iter().map(|w| format!("{w}\n")).collect(),
            products: self.products.iter().map(|w| format!("{w}\n")).collect(),
        }
    }

    /// Every rule of docs/brand-content.md, with the file and field that breaks it.
    pub fn validate(&self) -> Result<(), ContentError> {
        let v = &self.voice;
        const VOICE: &str = "voice.toml";
        if v.brand != self.brand.as_str() {
            return Err(err(
                VOICE,
                "brand",
                format!(
                    "is {:?}, the folder is for {:?}",
                    v.brand,
                    self.brand.as_str()
                ),
            ));
        }
        if v.languages.is_empty() {
            return Err(err(VOICE, "languages", "at least one language"));
        }
        let mut seen = BTreeSet::new();
        for l in &v.languages {
            if !valid_lang(l) {
                return Err(err(
                    VOICE,
                    "languages",
                    format!("{l:?} is not a two-letter language code"),
                ));
            }
            if !seen.insert(l) {
                return Err(err(VOICE, "languages", format!("{l:?} twice")));
            }
            if !v.greeting.contains_key(l) || !v.greeting.contains_key(&format!("{l}_no_name")) {
                return Err(err(VOICE, "greeting", format!("needs {l} and {l}_no_name")));
            }
            if !v.greeting[l].contains("{first_name}") {
                return Err(err(
                    VOICE,
                    "greeting",
                    format!("{l} must contain {{first_name}}"),
                ));
            }
            if !v.contact.contains_key(l) {
                return Err(err(VOICE, "contact", format!("no contact for {l}")));
            }
        }
        if v.sign_off.trim().is_empty() || v.sign_off.contains('\n') {
            return Err(err(VOICE, "sign_off", "one non-empty line"));
        }
        if v.serves("fr") && v.french_address.is_none() {
            return Err(err(
                VOICE,
                "french_address",
                "\"vous\" or \"tu\" for a brand that serves French",
            ));
        }
        if v.serves("en") && v.english_register.is_none() {
            return Err(err(
                VOICE,
                "english_register",
                "\"formal\" or \"casual\" for a brand that serves English",
            ));
        }
        for (platform, n) in &v.reply_length {
            if default_reply_length(platform).is_none() {
                return Err(err(
                    VOICE,
                    "reply_length",
                    format!(
                        "unknown platform {platform:?} (one of {})",
                        PLATFORM_NAMES.join(", ")
                    ),
                ));
            }
            if *n == 0 {
                return Err(err(
                    VOICE,
                    "reply_length",
                    format!("{platform} must be above 0"),
                ));
            }
        }
        for link in &v.allowed_links {
            if !link.starts_with("https://") {
                return Err(err(
                    VOICE,
                    "allowed_links",
                    format!("{link:?} is not an https:// address"),
                ));
            }
        }
        if v.banned_words.iter().any(|w| w.trim().is_empty()) {
            return Err(err(VOICE, "banned_words", "an empty word"));
        }

        const FACTS: &str = "facts.toml";
        let mut facts = BTreeMap::new();
        for (i, f) in self.facts.iter().enumerate() {
            let field = |name: &str| format!("facts[{i}].{name}");
            if !valid_id(&f.id) {
                return Err(err(
                    FACTS,
                    field("id"),
                    format!("{:?}: a-z, 0-9 and '-', 64 at most", f.id),
                ));
            }
            if facts.insert((f.id.as_str(), f.lang.as_str()), f).is_some() {
                return Err(err(
                    FACTS,
                    field("id"),
                    format!("{:?} twice in {}", f.id, f.lang),
                ));
            }
            if !v.serves(&f.lang) {
                return Err(err(
                    FACTS,
                    field("lang"),
                    format!("{:?} is not a language the brand serves", f.lang),
                ));
            }
            if f.text.trim().is_empty() || f.text.contains('{') {
                return Err(err(FACTS, field("text"), "a non-empty text without slots"));
            }
        }

        const REPLIES: &str = "replies.toml";
        let mut ids = BTreeSet::new();
        for (i, r) in self.replies.iter().enumerate() {
            let field = |name: &str| format!("replies[{i}].{name}");
            if !valid_id(&r.id) {
                return Err(err(
                    REPLIES,
                    field("id"),
                    format!("{:?}: a-z, 0-9 and '-', 64 at most", r.id),
                ));
            }
            if !ids.insert(r.id.as_str()) {
                return Err(err(REPLIES, field("id"), format!("{:?} twice", r.id)));
            }
            if !v.serves(&r.lang) {
                return Err(err(
                    REPLIES,
                    field("lang"),
                    format!("{:?} is not a language the brand serves", r.lang),
                ));
            }
            if r.intents.is_empty() {
                return Err(err(REPLIES, field("intents"), "at least one intent"));
            }
            if matches!(r.action, Action::Hide | Action::NoReply) {
                return Err(err(
                    REPLIES,
                    field("action"),
                    "reply_public, reply_private or escalate",
                ));
            }
            if r.text.trim().is_empty() {
                return Err(err(REPLIES, field("text"), "empty"));
            }
            let found = slots(&r.text).map_err(|e| err(REPLIES, field("text"), e))?;
            for s in found {
                match s {
                    Slot::Fact(id) if !facts.contains_key(&(id.as_str(), r.lang.as_str())) => {
                        return Err(err(
                            REPLIES,
                            field("text"),
                            format!("{{fact:{id}}}: no fact {id:?} in {}", r.lang),
                        ));
                    }
                    Slot::OrderRef if r.action != Action::ReplyPrivate => {
                        return Err(err(
                            REPLIES,
                            field("text"),
                            "{order_ref} only in a reply_private reply",
                        ));
                    }
                    _ => {}
                }
            }
            if let Some(short) = &r.short {
                if short.trim().is_empty() {
                    return Err(err(REPLIES, field("short"), "empty (leave it out instead)"));
                }
                let long = slots(&r.text).unwrap_or_default();
                for s in slots(short).map_err(|e| err(REPLIES, field("short"), e))? {
                    if !long.contains(&s) {
                        return Err(err(
                            REPLIES,
                            field("short"),
                            format!("{s} is not in the text: a short body says less, not more"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// This content as the version that follows `expected` (`None`: the first), as a
    /// store keeps it; `None` when the version number would overflow.
    pub fn as_next_version(&self, expected: Option<u32>) -> Option<BrandContent> {
        let version = expected.unwrap_or(0).checked_add(1)?;
        Some(Self {
            version,
            ..self.clone()
        })
    }

    pub fn fact(&self, id: &str, lang: &str) -> Option<&Fact> {
        self.facts.iter().find(|f| f.id == id && f.lang == lang)
    }

    /// Replies in `lang` that answer `intent`.
    pub fn replies_for(&self, lang: &str, intent: Intent) -> impl Iterator<Item = &ApprovedReply> {
        let lang = lang.to_owned();
        self.replies
            .iter()
            .filter(move |r| r.lang == lang && r.intents.contains(&intent))
    }

    /// Keeps the embeddings of `earlier`'s replies that this content repeats (same id,
    /// language and text), so that an edit embeds only what it changed.
    pub fn keep_embeddings_of(&mut self, earlier: &BrandContent) {
        let mut kept = false;
        for r in &mut self.replies {
            let same = earlier
                .replies
                .iter()
                .find(|e| e.id == r.id && e.lang == r.lang && e.text == r.text);
            if let Some(e) = same.and_then(|e| e.embedding.as_ref()) {
                r.embedding = Some(e.clone());
                kept = true;
            }
        }
        self.embedding_model = if kept {
            earlier.embedding_model.clone()
        } else {
            None
        };
    }

    /// Whether an approved reply lacks an embedding by `model` (it has none, or the
    /// content was embedded by another model).
    pub fn needs_embeddings(&self, model: &str) -> bool {
        self.embedding_model.as_deref() != Some(model)
            || self.replies.iter().any(|r| r.embedding.is_none())
    }
}

impl ApprovedReply {
    /// What its embedding is computed from: the text without its slots (`{contact}`,
    /// `{fact:...}`), or the whole text when nothing else is left.
    pub fn embedding_text(&self) -> String {
        let mut t = String::new();
        let mut depth = 0usize;
        for c in self.text.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ if depth == 0 => t.push(c),
                _ => {}
            }
        }
        if t.trim().is_empty() {
            self.text.clone()
        } else {
            t
        }
    }
}

/// Embeds every approved reply with the model that reads the comments (drafting ranks
/// replies by their similarity to the comment, comparing only one model's vectors).
pub async fn embed_replies(
    scorer: &dyn crate::ports::SentimentScorer,
    content: &mut BrandContent,
) -> Result<(), crate::ports::ScoreError> {
    if content.replies.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = content
        .replies
        .iter()
        .map(ApprovedReply::embedding_text)
        .collect();
    let readings = scorer.score(&texts).await?;
    if readings.len() != texts.len() || readings.iter().any(|r| r.embedding.is_none()) {
        return Err(crate::ports::ScoreError(
            "the model gave no embedding for an approved reply".into(),
        ));
    }
    let model = readings[0].sentiment.model.clone();
    for (r, reading) in content.replies.iter_mut().zip(readings) {
        r.embedding = reading.embedding;
    }
    content.embedding_model = Some(model);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_names_the_line_and_the_key_it_is_on() {
        let text = "brand = \"acme\"\nemoji_max = 0\nemoji_max = 1\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let err = toml_error("voice.toml", text, &e);
        assert_eq!(err.line, Some(3), "{err}");
        assert_eq!(err.field.as_deref(), Some("emoji_max"), "{err}");
        let text = "brand = \"acme\"\r\nemoji_max = \"many\"\r\n";
        let e = toml::from_str::<VoiceProfile>(text).unwrap_err();
        assert_eq!(toml_error("voice.toml", text, &e).line, Some(2));
    }

    fn files() -> ContentFiles {
        ContentFiles {
            voice: r#"
brand = "acme"
languages = ["fr"]
other_languages = "polite_reply"
tone = "Chaleureux"
sign_off = "L'équipe Acme"
french_address = "vous"
french_typography = true
banned_words = ["malheureusement"]
allowed_links = ["https://www.acme.fr/aide"]
[greeting]
fr = "Bonjour {first_name},"
fr_no_name = "Bonjour,"
[contact]
fr = "en message privé"
[policies]
never_promise = ["refund", "delivery_date"]
"#
            .into(),
            replies: r#"
[[replies]]
id = "fr-retard"
lang = "fr"
intents = ["delivery_delay"]
action = "reply_private"
text = "Écrivez-nous {contact} avec la référence {order_ref}. {fact:delai}"
"#
            .into(),
            facts: r#"
[[facts]]
id = "delai"
topic = "delivery_date"
lang = "fr"
text = "La livraison prend en général 3 à 5 jours ouvrés."
"#
            .into(),
            words: "Acme\n# a comment\n\nLyon\n".into(),
            products: "Lina\n".into(),
        }
    }

    fn parse(f: &ContentFiles) -> Result<BrandContent, ContentError> {
        BrandContent::from_files(&BrandId::parse("acme").unwrap(), f, Timestamp(0), "test")
    }

    #[test]
    fn a_valid_folder_parses_and_round_trips_through_its_files() {
        let c = parse(&files()).unwrap();
        assert_eq!(c.replies.len(), 1);
        assert_eq!(c.words, ["Acme", "Lyon"]);
        assert_eq!(c.products, ["Lina"]);
        assert_eq!(c.voice.reply_limit("x"), 280);
        assert_eq!(c.voice.greeting("fr", Some("Léa")).unwrap(), "Bonjour Léa,");
        assert_eq!(c.voice.greeting("fr", None).unwrap(), "Bonjour,");
        let back = parse(&c.to_files()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn errors_name_the_file_the_field_and_the_reason() {
        type Edit = fn(&mut ContentFiles);
        let cases: Vec<(Edit, &str)> = vec![
            (
                |f| {
                    f.voice = f
                        .voice
                        .replace("emoji", "x")
                        .replace("sign_off = \"L'équipe Acme\"", "sign_off = 3")
                },
                "voice.toml:6: field `sign_off`: invalid type",
            ),
            (
                |f| f.voice.push_str("colour = \"red\"\n"),
                "unknown field `colour`",
            ),
            (
                |f| f.voice = f.voice.replace("french_address = \"vous\"\n", ""),
                "voice.toml: field `french_address`",
            ),
            (
                |f| f.voice = f.voice.replace("\"acme\"", "\"globex\""),
                "voice.toml: field `brand`: is \"globex\"",
            ),
            (
                |f| f.voice = f.voice.replace("refund", "refunds"),
                "voice.toml",
            ),
            (
                |f| f.replies = f.replies.replace("delivery_delay", "late"),
                "replies.toml",
            ),
            (
                |f| f.replies = f.replies.replace("{fact:delai}", "{fact:nope}"),
                "replies.toml: field `replies[0].text`: {fact:nope}: no fact \"nope\" in fr",
            ),
            (
                |f| f.replies = f.replies.replace("reply_private", "reply_public"),
                "{order_ref} only in a reply_private reply",
            ),
            (
                |f| f.replies = f.replies.replace("{contact}", "{email}"),
                "unknown slot {email}",
            ),
            (
                |f| f.replies = f.replies.replace("lang = \"fr\"", "lang = \"en\""),
                "replies.toml: field `replies[0].lang`: \"en\" is not a language the brand serves",
            ),
            (
                |f| f.facts = f.facts.replace("delivery_date", "weather"),
                "facts.toml",
            ),
            (
                |f| {
                    f.replies = f
                        .replies
                        .replace("action = \"reply_private\"", "action = \"hide\"")
                },
                "field `replies[0].action`",
            ),
        ];
        for (edit, expected) in cases {
            let mut f = files();
            edit(&mut f);
            let e = parse(&f).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}\n  expected: {expected}");
        }
    }

    #[test]
    fn a_folder_needs_its_three_toml_files_and_may_lack_the_word_lists() {
        let dir = std::env::temp_dir().join(format!("vigie-content-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = files();
        std::fs::write(dir.join("voice.toml"), &f.voice).unwrap();
        std::fs::write(dir.join("replies.toml"), &f.replies).unwrap();
        let e = ContentFiles::read_dir(&dir).unwrap_err().to_string();
        assert!(
            e.contains("facts.toml") && e.contains("cannot read it"),
            "{e}"
        );
        std::fs::write(dir.join("facts.toml"), &f.facts).unwrap();
        let read = ContentFiles::read_dir(&dir).unwrap();
        assert_eq!((read.words.as_str(), read.products.as_str()), ("", ""));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn slots_are_read_in_order_and_unknown_ones_refused() {
        assert_eq!(
            slots("a {contact} b {fact:x-1} {product}{order_ref}").unwrap(),
            [
                Slot::Contact,
                Slot::Fact("x-1".into()),
                Slot::Product,
                Slot::OrderRef
            ]
        );
        assert!(slots("{fact:}").is_err());
        assert!(slots("oops {contact").is_err());
    }
}

#[cfg(test)]
mod samples {
    use super::*;

    /// The sample brands' folders (samples/brands) are valid content.
    #[test]
    fn the_sample_brands_are_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/brands");
        for brand in ["acme", "globex"] {
            let dir = root.join(brand);
            let files = ContentFiles::read_dir(&dir).unwrap();
            let c = BrandContent::from_files(
                &BrandId::parse(brand).unwrap(),
                &files,
                Timestamp(0),
                "test",
            )
            .unwrap_or_else(|e| panic!("{brand}: {e}"));
            for lang in &c.voice.languages {
                assert!(
                    c.replies.iter().filter(|r| &r.lang == lang).count() >= 40,
                    "{brand} {lang}"
                );
            }
        }
    }
}
