//! Brand configuration: one TOML file, validated before anything runs.
//!
//! ```toml
//! [meta]                                   # Facebook and Instagram (one Meta app)
//! app_secret = { env = "VIGIE_META_APP_SECRET" }
//! verify_token = { env = "VIGIE_META_VERIFY_TOKEN" }
//!
//! [[brands]]
//! id = "acme"
//! name = "Acme"
//! facebook_page_ids = ["100000000000001"]
//! instagram_account_ids = ["17841400000000001"]
//! generic_secret = { env = "ACME_GENERIC_SECRET" }   # or { ssm = "/vigie/acme/generic" }
//! vip_authors = ["facebook:1234", "instagram:lea.b"]
//! [brands.urgency]                         # optional: defaults shown in docs/configuration.md
//! escalate_at = 50
//! [brands.notify]
//! url = { env = "ACME_SLACK_WEBHOOK" }
//! format = "slack"                         # or "teams"
//! [brands.drafting]                        # optional: the grounded engine alone by default
//! engine = "bedrock"                       # or "grounded"
//! bedrock_model = "eu.anthropic.claude-sonnet-4-20250514-v1:0"
//! bedrock_region = "eu-west-3"             # optional: the function's region otherwise
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::comment::{BrandId, Platform};
use crate::urgency::{UrgencyPolicy, Weights};

/// Where a secret is read from: never the secret itself in the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// An environment variable (local runs, tests).
    Env(String),
    /// An SSM Parameter Store parameter (SecureString) on AWS.
    Ssm(String),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env {name}"),
            SecretRef::Ssm(name) => write!(f, "ssm {name}"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    pub app_secret: SecretRef,
    pub verify_token: SecretRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    Slack,
    Teams,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Incoming-webhook URL (it embeds a token, hence a secret reference).
    pub url: SecretRef,
    #[serde(default = "default_format")]
    pub format: NotifyFormat,
}

fn default_format() -> NotifyFormat {
    NotifyFormat::Slack
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    pub min_score: u8,
    pub respond_within_minutes: u32,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UrgencyConfig {
    pub escalate_at: Option<u8>,
    #[serde(default)]
    pub weights: BTreeMap<String, u8>,
    pub tiers: Option<Vec<TierConfig>>,
}

/// Which engine drafts beside the grounded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[default]
    Grounded,
    Bedrock,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftingConfig {
    #[serde(default)]
    pub engine: EngineKind,
    pub bedrock_model: Option<String>,
    pub bedrock_region: Option<String>,
}

/// A brand's drafting engines, checked: the grounded engine always drafts; Bedrock's
/// drafts come first when the brand chooses it (and the grounded ones stand when it fails).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Drafting {
    #[default]
    Grounded,
    Bedrock {
        /// Model id or inference profile.
        model: String,
        /// The function's region when `None`.
        region: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub facebook_page_ids: Vec<String>,
    #[serde(default)]
    pub instagram_account_ids: Vec<String>,
    pub generic_secret: Option<SecretRef>,
    #[serde(default)]
    pub vip_authors: Vec<String>,
    #[serde(default)]
    pub urgency: UrgencyConfig,
    pub notify: Option<NotifyConfig>,
    #[serde(default)]
    pub drafting: DraftingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub meta: Option<MetaConfig>,
    #[serde(default)]
    pub brands: Vec<BrandConfig>,
}

/// A configuration problem: the file, the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                issue.field,
                issue.reason
            )?;
        }
        Ok(())
    }
}

/// One brand, checked and ready to use.
#[derive(Debug, Clone)]
pub struct Brand {
    pub id: BrandId,
    pub name: String,
    pub generic_secret: Option<SecretRef>,
    pub urgency: UrgencyPolicy,
    pub notify: Option<NotifyConfig>,
    pub drafting: Drafting,
}

/// Every brand, and which platform account belongs to which brand.
#[derive(Debug, Clone)]
pub struct Brands {
    pub meta: Option<MetaConfig>,
    brands: BTreeMap<BrandId, Brand>,
    accounts: HashMap<(Platform, String), BrandId>,
}

impl Brands {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            issues: vec![ConfigIssue {
                field: "(file)".into(),
                reason: e.to_string(),
            }],
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let fail = |field: String, reason: String| ConfigError {
            file: path.to_owned(),
            issues: vec![ConfigIssue { field, reason }],
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "(syntax)".into());
            fail(field, e.message().to_owned())
        })?;
        validate(file).map_err(|issues| ConfigError {
            file: path.to_owned(),
            issues,
        })
    }

    pub fn get(&self, id: &BrandId) -> Option<&Brand> {
        self.brands.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Brand> {
        self.brands.values()
    }

    /// The brand that owns a platform account (page id, Instagram account id, generic source).
    pub fn owner(&self, platform: Platform, account_id: &str) -> Option<&Brand> {
        self.accounts
            .get(&(platform, account_id.to_owned()))
            .and_then(|id| self.brands.get(id))
    }

    /// Every secret the configuration refers to, for resolution at start.
    pub fn secret_refs(&self) -> BTreeSet<SecretRef> {
        let mut refs = BTreeSet::new();
        if let Some(meta) = &self.meta {
            refs.insert(meta.app_secret.clone());
            refs.insert(meta.verify_token.clone());
        }
        for b in self.brands.values() {
            refs.extend(b.generic_secret.clone());
            refs.extend(b.notify.as_ref().map(|n| n.url.clone()));
        }
        refs
    }
}

fn validate(file: ConfigFile) -> Result<Brands, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    let mut issue = |field: String, reason: &str| {
        issues.push(ConfigIssue {
            field,
            reason: reason.to_owned(),
        })
    };
    if file.brands.is_empty() {
        issue("brands".into(), "at least one [[brands]] entry is required");
    }
    let mut brands = BTreeMap::new();
    let mut accounts: HashMap<(Platform, String), BrandId> = HashMap::new();
    let mut has_meta_accounts = false;
    for (i, b) in file.brands.into_iter().enumerate() {
        let at = |f: &str| format!("brands[{i}].{f}");
        let id = match BrandId::parse(&b.id) {
            Ok(id) => id,
            Err(e) => {
                issue(at("id"), &e.to_string());
                continue;
            }
        };
        if brands.contains_key(&id) {
            issue(at("id"), &format!("brand {id} is defined twice"));
        }
        if b.name.trim().is_empty() {
            issue(at("name"), "must not be empty");
        }
        let mut claim = |platform: Platform, field: &str, list: &[String], numeric: bool| {
            for (j, account) in list.iter().enumerate() {
                let f = format!("brands[{i}].{field}[{j}]");
                if numeric && (account.is_empty() || !account.bytes().all(|c| c.is_ascii_digit())) {
                    issue(f, "must be the platform's numeric id");
                } else if let Some(other) = accounts.get(&(platform, account.clone())) {
                    issue(f, &format!("already belongs to brand {other}"));
                } else {
                    accounts.insert((platform, account.clone()), id.clone());
                }
            }
        };
        claim(
            Platform::Facebook,
            "facebook_page_ids",
            &b.facebook_page_ids,
            true,
        );
        claim(
            Platform::Instagram,
            "instagram_account_ids",
            &b.instagram_account_ids,
            true,
        );
        has_meta_accounts |= !b.facebook_page_ids.is_empty() || !b.instagram_account_ids.is_empty();
        let mut vip = BTreeSet::new();
        for (j, v) in b.vip_authors.iter().enumerate() {
            match v.split_once(':').map(|(p, a)| (Platform::parse(p), a)) {
                Some((Ok(p), a)) if !a.is_empty() => {
                    vip.insert((p, a.to_owned()));
                }
                _ => issue(
                    format!("brands[{i}].vip_authors[{j}]"),
                    "must be <platform>:<author id or name>, e.g. facebook:1234",
                ),
            }
        }
        let mut weights = Weights::default();
        for (name, value) in &b.urgency.weights {
            if !weights.set(name, *value) {
                issue(
                    at(&format!("urgency.weights.{name}")),
                    &format!("unknown signal; known: {}", Weights::NAMES.join(", ")),
                );
            } else if *value > 100 {
                issue(at(&format!("urgency.weights.{name}")), "must be 0-100");
            }
        }
        let escalate_at = b
            .urgency
            .escalate_at
            .unwrap_or(UrgencyPolicy::DEFAULT_ESCALATE_AT);
        if escalate_at > 100 {
            issue(at("urgency.escalate_at"), "must be 0-100");
        }
        let tiers = b
            .urgency
            .tiers
            .clone()
            .unwrap_or_else(UrgencyPolicy::default_tiers);
        for (j, t) in tiers.iter().enumerate() {
            let f = format!("brands[{i}].urgency.tiers[{j}]");
            if t.name.trim().is_empty() {
                issue(format!("{f}.name"), "must not be empty");
            }
            if t.min_score > 100 {
                issue(format!("{f}.min_score"), "must be 0-100");
            }
            if t.respond_within_minutes == 0 {
                issue(format!("{f}.respond_within_minutes"), "must be at least 1");
            }
            if j > 0 && t.min_score >= tiers[j - 1].min_score {
                issue(
                    format!("{f}.min_score"),
                    "tiers must go from the highest min_score down",
                );
            }
        }
        if let Some(n) = &b.notify
            && let SecretRef::Env(name) | SecretRef::Ssm(name) = &n.url
            && name.trim().is_empty()
        {
            issue(at("notify.url"), "names no variable or parameter");
        }
        let drafting = drafting(&b.drafting, &at, &mut issue);
        brands.insert(
            id.clone(),
            Brand {
                id,
                name: b.name,
                generic_secret: b.generic_secret,
                urgency: UrgencyPolicy {
                    escalate_at,
                    weights,
                    tiers,
                    vip,
                },
                notify: b.notify,
                drafting,
            },
        );
    }
    if has_meta_accounts && file.meta.is_none() {
        issue(
            "meta".into(),
            "brands list Facebook or Instagram accounts: a [meta] section with app_secret and verify_token is required",
        );
    }
    for b in brands.values() {
        if let Some(SecretRef::Env(name) | SecretRef::Ssm(name)) = &b.generic_secret
            && name.trim().is_empty()
        {
            issue(
                format!("brands.{}.generic_secret", b.id),
                "names no variable or parameter",
            );
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Brands {
        meta: file.meta,
        brands,
        accounts,
    })
}

/// A region name as AWS spells them: `eu-west-3`, `us-gov-west-1`.
fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn drafting(
    d: &DraftingConfig,
    at: &dyn Fn(&str) -> String,
    issue: &mut dyn FnMut(String, &str),
) -> Drafting {
    if let Some(r) = &d.bedrock_region
        && !valid_region(r)
    {
        issue(
            at("drafting.bedrock_region"),
            "must be an AWS region, e.g. eu-west-3",
        );
    }
    match d.engine {
        EngineKind::Grounded => {
            if d.bedrock_model.is_some() || d.bedrock_region.is_some() {
                issue(
                    at("drafting.engine"),
                    "bedrock_model and bedrock_region need engine = \"bedrock\"",
                );
            }
            Drafting::Grounded
        }
        EngineKind::Bedrock => match d.bedrock_model.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() && !m.contains(char::is_whitespace) => Drafting::Bedrock {
                model: m.to_owned(),
                region: d.bedrock_region.clone(),
            },
            Some(m) if !m.is_empty() => {
                issue(at("drafting.bedrock_model"), "a model id has no spaces");
                Drafting::Grounded
            }
            _ => {
                issue(
                    at("drafting.bedrock_model"),
                    "required with engine = \"bedrock\" (a model id or inference profile)",
                );
                Drafting::Grounded
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[meta]
app_secret = { env = "META_SECRET" }
verify_token = { env = "META_TOKEN" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
instagram_account_ids = ["17841400000000001"]
generic_secret = { env = "ACME_GENERIC" }
vip_authors = ["facebook:77", "instagram:lea.b"]
[brands.urgency]
escalate_at = 40
weights = { legal_threat = 50 }
[brands.notify]
url = { env = "ACME_SLACK" }
format = "teams"

[[brands]]
id = "globex"
name = "Globex"
facebook_page_ids = ["2002"]
"#;

    #[test]
    fn a_good_file_maps_accounts_to_brands() {
        let brands = Brands::parse(Path::new("brands.toml"), GOOD).unwrap();
        let acme = brands.owner(Platform::Facebook, "1001").unwrap();
        assert_eq!(acme.id.as_str(), "acme");
        assert_eq!(acme.urgency.escalate_at, 40);
        assert_eq!(acme.urgency.weights.legal_threat, 50);
        assert!(
            acme.urgency
                .vip
                .contains(&(Platform::Instagram, "lea.b".into()))
        );
        assert_eq!(acme.notify.as_ref().unwrap().format, NotifyFormat::Teams);
        assert_eq!(
            brands
                .owner(Platform::Facebook, "2002")
                .unwrap()
                .id
                .as_str(),
            "globex"
        );
        assert!(brands.owner(Platform::Instagram, "1001").is_none());
        assert_eq!(brands.secret_refs().len(), 4);
    }

    fn issues(text: &str) -> String {
        Brands::parse(Path::new("conf/brands.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_file_the_field_and_the_reason() {
        let e = issues(&GOOD.replace("\"2002\"", "\"1001\""));
        assert!(
            e.contains(
                "conf/brands.toml: brands[1].facebook_page_ids[0]: already belongs to brand acme"
            ),
            "{e}"
        );
        let e = issues(&GOOD.replace("legal_threat = 50", "legal = 50"));
        assert!(
            e.contains("brands[0].urgency.weights.legal: unknown signal"),
            "{e}"
        );
        let e = issues(&GOOD.replace("id = \"globex\"", "id = \"Globex Inc\""));
        assert!(e.contains("brands[1].id: brand id \"Globex Inc\""), "{e}");
        let e = issues(&GOOD.replace("\"facebook:77\"", "\"77\""));
        assert!(
            e.contains("brands[0].vip_authors[0]: must be <platform>:"),
            "{e}"
        );
        let e = issues(&GOOD.replace("[meta]\napp_secret = { env = \"META_SECRET\" }\nverify_token = { env = \"META_TOKEN\" }\n", ""));
        assert!(e.contains("conf/brands.toml: meta: "), "{e}");
        let e = issues(&GOOD.replace("format = \"teams\"", "format = \"irc\""));
        assert!(e.contains("conf/brands.toml: line "), "{e}");
        let e = issues("");
        assert!(e.contains("brands: at least one"), "{e}");
    }

    #[test]
    fn drafting_defaults_to_grounded_and_bedrock_needs_a_model() {
        let brands = Brands::parse(Path::new("brands.toml"), GOOD).unwrap();
        assert!(brands.iter().all(|b| b.drafting == Drafting::Grounded));
        let bedrock = GOOD.replace(
            "format = \"teams\"\n",
            "format = \"teams\"\n[brands.drafting]\nengine = \"bedrock\"\nbedrock_model = \"eu.anthropic.claude-sonnet-4-20250514-v1:0\"\nbedrock_region = \"eu-west-3\"\n",
        );
        let brands = Brands::parse(Path::new("brands.toml"), &bedrock).unwrap();
        let acme = brands.owner(Platform::Facebook, "1001").unwrap();
        assert_eq!(
            acme.drafting,
            Drafting::Bedrock {
                model: "eu.anthropic.claude-sonnet-4-20250514-v1:0".into(),
                region: Some("eu-west-3".into()),
            }
        );
        let e = issues(&bedrock.replace(
            "bedrock_model = \"eu.anthropic.claude-sonnet-4-20250514-v1:0\"\n",
            "",
        ));
        assert!(
            e.contains("conf/brands.toml: brands[0].drafting.bedrock_model: required with engine = \"bedrock\""),
            "{e}"
        );
        let e = issues(&bedrock.replace("eu-west-3", "Paris"));
        assert!(
            e.contains("brands[0].drafting.bedrock_region: must be an AWS region"),
            "{e}"
        );
        let e = issues(&bedrock.replace("engine = \"bedrock\"", "engine = \"grounded\""));
        assert!(e.contains("brands[0].drafting.engine: "), "{e}");
        let e = issues(&bedrock.replace("engine = \"bedrock\"", "engine = \"gpt\""));
        assert!(e.contains("conf/brands.toml: line "), "{e}");
    }

    #[test]
    fn tiers_must_descend() {
        let text = GOOD.replace(
            "weights = { legal_threat = 50 }",
            "weights = { legal_threat = 50 }\ntiers = [{ name = \"P2\", min_score = 60, respond_within_minutes = 60 }, { name = \"P1\", min_score = 80, respond_within_minutes = 15 }]",
        );
        let e = issues(&text);
        assert!(
            e.contains("brands[0].urgency.tiers[1].min_score: tiers must go from the highest"),
            "{e}"
        );
    }
}
