//! Brand configuration: one TOML file, validated before anything runs.
//!
//! ```toml
//! [meta]                                   # Facebook and Instagram: one Meta app, named "meta"
//! app_secret = { env = "VIGIE_META_APP_SECRET" }
//! verify_token = { env = "VIGIE_META_VERIFY_TOKEN" }
//!
//! [apps.acme-x]                            # any platform's app, by name (several per platform)
//! platform = "x"                           # meta, x, linkedin, tiktok
//! secret = { env = "ACME_X_CONSUMER_SECRET" }
//!
//! [apps.acme-youtube]                      # a platform read on a schedule (poll function)
//! platform = "youtube"                     # youtube, reddit, google; meta for gap repair
//! [apps.acme-youtube.pull]
//! client_id = "1234.apps.googleusercontent.com"
//! client_secret = { env = "ACME_YOUTUBE_CLIENT_SECRET" }
//! refresh_token = { env = "ACME_YOUTUBE_REFRESH_TOKEN" }
//!
//! [[brands]]
//! id = "acme"
//! name = "Acme"
//! facebook_page_ids = ["100000000000001"]
//! instagram_account_ids = ["17841400000000001"]
//! accounts = { x = ["2244994945"], linkedin = ["2414183"] }  # any platform's account ids
//! apps = ["acme-x"]                        # the app of each platform; needed when it has several
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
use crate::platforms::{self, DEFAULT_TOLERANCE_SECONDS, Source};
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
    /// Gap repair: the Graph API token the poll function reads recent comments with.
    pub pull: Option<PullConfig>,
}

/// How the poll function reads an app's platform: `[apps.<name>.pull]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// The OAuth client (Google, Reddit): its id is not a secret.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
    /// The OAuth refresh token of the account vigie reads as (Google, Reddit).
    pub refresh_token: Option<SecretRef>,
    /// A token that does not expire (Meta's system user token).
    pub access_token: Option<SecretRef>,
    /// Reddit: the account vigie reads as, whose comments are the brand's own.
    pub username: Option<String>,
    /// Reddit: how the client names itself (`<platform>:<app id>:<version> (by /u/<user>)`).
    pub user_agent: Option<String>,
    /// The API and token endpoint, when not the platform's own (a proxy, tests).
    pub api_url: Option<String>,
    pub token_url: Option<String>,
}

/// One platform app whose webhooks vigie receives: `[apps.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The platform module it belongs to: `meta`, `x`, `linkedin`, `tiktok`, `google`.
    pub platform: String,
    /// Meta's app secret, X's consumer secret, LinkedIn's or TikTok's client secret.
    pub secret: Option<SecretRef>,
    /// Google: the JWK set that signs the push tokens (Google's current keys).
    pub jwks: Option<SecretRef>,
    /// Google: the audience the push subscription puts in its tokens.
    pub audience: Option<String>,
    /// Google: the push subscription's service account (`email` of its tokens).
    pub service_account: Option<String>,
    /// Meta's verify token.
    pub verify_token: Option<SecretRef>,
    /// How old a signed timestamp may be, in seconds (TikTok); 300 by default.
    pub tolerance_seconds: Option<i64>,
    /// What the poll function reads with.
    pub pull: Option<PullConfig>,
}

/// An app, checked.
#[derive(Clone)]
pub struct App {
    pub name: String,
    pub source: &'static dyn Source,
    /// The HMAC secret, or for Google the JWK set; none for an app that is only read
    /// (YouTube, Reddit, Google without push).
    pub secret: Option<SecretRef>,
    pub verify_token: Option<SecretRef>,
    pub tolerance_seconds: i64,
    /// Google: the tokens' audience and service account.
    pub audience: Option<String>,
    pub service_account: Option<String>,
    /// What the poll function reads with, when it reads this app's platform.
    pub pull: Option<PullConfig>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("platform", &self.source.name())
            .finish_non_exhaustive()
    }
}

/// The name the `[meta]` section's app goes by.
pub const META_APP: &str = "meta";

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
    /// Account ids by platform name (`x`, `linkedin`, `tiktok`, `facebook`...).
    #[serde(default)]
    pub accounts: BTreeMap<String, Vec<String>>,
    /// The apps the brand's accounts belong to, one per platform module at most.
    #[serde(default)]
    pub apps: Vec<String>,
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
    pub apps: BTreeMap<String, AppConfig>,
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
    apps: BTreeMap<String, App>,
    brands: BTreeMap<BrandId, Brand>,
    accounts: HashMap<(Platform, String), BrandId>,
    /// Which app of a platform module each brand belongs to.
    brand_apps: HashMap<(BrandId, &'static str), String>,
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

    /// A brand's accounts, platform by platform.
    pub fn accounts_of(&self, brand: &BrandId) -> Vec<(Platform, String)> {
        let mut out: Vec<(Platform, String)> = self
            .accounts
            .iter()
            .filter(|(_, b)| *b == brand)
            .map(|((p, a), _)| (*p, a.clone()))
            .collect();
        out.sort();
        out
    }

    /// Every app, by name.
    pub fn apps(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.get(name)
    }

    /// The app of a platform module a brand's accounts belong to.
    pub fn app_of(&self, brand: &BrandId, source: &dyn Source) -> Option<&str> {
        self.brand_apps
            .get(&(brand.clone(), source.name()))
            .map(String::as_str)
    }

    /// Every secret the configuration refers to, for resolution at start.
    pub fn secret_refs(&self) -> BTreeSet<SecretRef> {
        let mut refs = BTreeSet::new();
        for app in self.apps.values() {
            refs.extend(app.secret.clone());
            refs.extend(app.verify_token.clone());
            if let Some(p) = &app.pull {
                refs.extend(p.client_secret.clone());
                refs.extend(p.refresh_token.clone());
                refs.extend(p.access_token.clone());
            }
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
    let mut apps = BTreeMap::new();
    if let Some(meta) = file.meta {
        if let Some(p) = &meta.pull {
            check_pull("meta", p, &|f: &str| format!("meta.{f}"), &mut issue);
        }
        apps.insert(
            META_APP.to_owned(),
            App {
                name: META_APP.to_owned(),
                source: &platforms::meta::Meta,
                secret: Some(meta.app_secret),
                verify_token: Some(meta.verify_token),
                tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
                audience: None,
                service_account: None,
                pull: meta.pull,
            },
        );
    }
    for (name, a) in file.apps {
        let at = |f: &str| format!("apps.{name}.{f}");
        if apps.contains_key(&name) {
            issue(
                format!("apps.{name}"),
                "is the [meta] section's app: choose another name",
            );
            continue;
        }
        if BrandId::parse(name.as_str()).is_err() {
            issue(
                format!("apps.{name}"),
                "an app name is 1-64 characters of a-z, 0-9 and '-'",
            );
        }
        let Some(source) = platforms::source_named(&a.platform).filter(|s| s.name() != "generic")
        else {
            issue(
                at("platform"),
                "must be one of meta, x, linkedin, tiktok, google, youtube, reddit",
            );
            continue;
        };
        if let Some(p) = &a.pull {
            check_pull(source.name(), p, &at, &mut issue);
        }
        let google = source.name() == "google";
        // An app with read credentials and no webhook keys is only read (Google reviews
        // without push, X mentions without the Account Activity API).
        let pull_only = !source.pushes()
            || (a.pull.is_some()
                && if google {
                    a.jwks.is_none()
                } else {
                    a.secret.is_none()
                });
        if !source.pushes() && a.pull.is_none() {
            issue(
                at("pull"),
                "this platform has no webhooks: the app needs its [pull] credentials",
            );
        }
        let secret = if pull_only {
            for (field, set) in [
                ("secret", a.secret.is_some()),
                ("audience", a.audience.is_some()),
                ("service_account", a.service_account.is_some()),
            ] {
                if set {
                    issue(at(field), "an app that is only read has none");
                }
            }
            None
        } else if google {
            if a.secret.is_some() {
                issue(at("secret"), "a Google app has a jwks, not a secret");
            }
            if a.audience.as_deref().is_none_or(|s| s.trim().is_empty()) {
                issue(
                    at("audience"),
                    "a Google app needs its push subscription's audience",
                );
            }
            a.jwks.clone().map(Some)
        } else {
            for (field, set) in [
                ("jwks", a.jwks.is_some()),
                ("audience", a.audience.is_some()),
                ("service_account", a.service_account.is_some()),
            ] {
                if set {
                    issue(at(field), "only Google apps have one");
                }
            }
            a.secret.clone().map(Some)
        };
        let Some(secret) = secret.or(pull_only.then_some(None)) else {
            issue(
                at(if google { "jwks" } else { "secret" }),
                if google {
                    "a Google app needs the JWK set of its push tokens"
                } else {
                    "an app needs its secret"
                },
            );
            continue;
        };
        let meta = source.name() == "meta";
        if meta && a.verify_token.is_none() {
            issue(
                at("verify_token"),
                "a Meta app needs the verify token of its subscription",
            );
        }
        if !meta && a.verify_token.is_some() {
            issue(at("verify_token"), "only Meta apps have a verify token");
        }
        let tolerance = a.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE_SECONDS);
        if !(1..=86_400).contains(&tolerance) {
            issue(at("tolerance_seconds"), "must be 1-86400");
        }
        apps.insert(
            name.clone(),
            App {
                name,
                source,
                secret,
                verify_token: a.verify_token,
                tolerance_seconds: tolerance,
                audience: a.audience,
                service_account: a.service_account,
                pull: a.pull,
            },
        );
    }
    let mut brands = BTreeMap::new();
    let mut accounts: HashMap<(Platform, String), BrandId> = HashMap::new();
    let mut brand_apps = HashMap::new();
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
        let mut lists = vec![
            (
                Platform::Facebook,
                "facebook_page_ids".to_owned(),
                &b.facebook_page_ids,
            ),
            (
                Platform::Instagram,
                "instagram_account_ids".to_owned(),
                &b.instagram_account_ids,
            ),
        ];
        for (name, list) in &b.accounts {
            match Platform::parse(name) {
                Ok(Platform::Generic) | Err(_) => issue(
                    at(&format!("accounts.{name}")),
                    "must name a platform: facebook, instagram, x, linkedin, tiktok, google, youtube, reddit",
                ),
                Ok(p) => lists.push((p, format!("accounts.{name}"), list)),
            }
        }
        let mut claimed: BTreeSet<&'static str> = BTreeSet::new();
        let mut claim = |platform: Platform, field: &str, list: &[String]| {
            let source = platforms::source(platform);
            for (j, account) in list.iter().enumerate() {
                let f = format!("brands[{i}].{field}[{j}]");
                if let Err(reason) = source.check_account(platform, account) {
                    issue(f, reason);
                } else if let Some(other) = accounts.get(&(platform, account.clone())) {
                    issue(f, &format!("already belongs to brand {other}"));
                } else {
                    accounts.insert((platform, account.clone()), id.clone());
                    claimed.insert(source.name());
                }
            }
        };
        for (platform, field, list) in lists {
            claim(platform, &field, list);
        }
        let mut named: BTreeMap<&'static str, String> = BTreeMap::new();
        for (j, name) in b.apps.iter().enumerate() {
            let f = format!("brands[{i}].apps[{j}]");
            match apps.get(name) {
                None => issue(f, &format!("no app {name:?} in [apps] (or [meta])")),
                Some(app) => {
                    if let Some(other) = named.insert(app.source.name(), name.clone()) {
                        issue(
                            f,
                            &format!("{other} is already the brand's {} app", app.source.name()),
                        );
                    }
                }
            }
        }
        for source in claimed {
            let app = named.remove(source).or_else(|| {
                let mut of_source = apps.values().filter(|a| a.source.name() == source);
                match (of_source.next(), of_source.next()) {
                    (Some(only), None) => Some(only.name.clone()),
                    (None, _) => {
                        issue(
                            at("apps"),
                            &format!(
                                "the brand has {source} accounts but no {source} app is configured ({})",
                                if source == "meta" {
                                    "a [meta] section with app_secret and verify_token, or an [apps.<name>] with platform = \"meta\""
                                } else {
                                    "an [apps.<name>] entry with its platform and secret, or its [pull] credentials"
                                }
                            ),
                        );
                        None
                    }
                    (Some(_), Some(_)) => {
                        issue(
                            at("apps"),
                            &format!("several {source} apps are configured: name the brand's in apps"),
                        );
                        None
                    }
                }
            });
            if let Some(app) = app {
                brand_apps.insert((id.clone(), source), app);
            }
        }
        for (source, name) in named {
            issue(
                at("apps"),
                &format!("app {name} is for {source}, where the brand claims no account"),
            );
        }
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
        apps,
        brands,
        accounts,
        brand_apps,
    })
}

/// Checks a `[pull]` section against what its platform reads with.
fn check_pull(
    source: &str,
    p: &PullConfig,
    at: &dyn Fn(&str) -> String,
    issue: &mut dyn FnMut(String, &str),
) {
    let f = |name: &str| at(&format!("pull.{name}"));
    let Some(pull) = crate::poll::pull_named(source) else {
        let names: Vec<&str> = crate::poll::PULLS.iter().map(|p| p.name()).collect();
        issue(
            at("pull"),
            &format!("vigie reads only {}", names.join(", ")),
        );
        return;
    };
    for (name, why) in pull.check_keys(p) {
        issue(f(name), why);
    }
    for (name, url) in [("api_url", &p.api_url), ("token_url", &p.token_url)] {
        if let Some(u) = url
            && !(u.starts_with("https://")
                || u.starts_with("http://127.0.0.1")
                || u.starts_with("http://localhost"))
        {
            issue(f(name), "must be https (or http on loopback, for tests)");
        }
    }
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
        assert!(
            e.contains(
                "conf/brands.toml: brands[0].apps: the brand has meta accounts but no meta app"
            ),
            "{e}"
        );
        let e = issues(&GOOD.replace("format = \"teams\"", "format = \"irc\""));
        assert!(e.contains("conf/brands.toml: line "), "{e}");
        let e = issues("");
        assert!(e.contains("brands: at least one"), "{e}");
    }

    const PULLED: &str = r#"
[meta]
app_secret = { env = "META_SECRET" }
verify_token = { env = "META_TOKEN" }
[meta.pull]
access_token = { env = "META_SYSTEM_USER_TOKEN" }

[apps.acme-youtube]
platform = "youtube"
[apps.acme-youtube.pull]
client_id = "1234.apps.googleusercontent.com"
client_secret = { env = "YT_CLIENT_SECRET" }
refresh_token = { env = "YT_REFRESH" }

[apps.acme-reddit]
platform = "reddit"
[apps.acme-reddit.pull]
client_id = "p-jcoLKBynTLew"
client_secret = { env = "REDDIT_SECRET" }
refresh_token = { env = "REDDIT_REFRESH" }
username = "Acme_Officiel"
user_agent = "web:fr.acme.vigie:1.0 (by /u/Acme_Officiel)"

[apps.acme-reviews]
platform = "google"
[apps.acme-reviews.pull]
client_id = "1234.apps.googleusercontent.com"
client_secret = { env = "GBP_CLIENT_SECRET" }
refresh_token = { env = "GBP_REFRESH" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
accounts = { youtube = ["UCacmeAcmeAcmeAcmeAcme00"], reddit = ["r/acme"], google = ["accounts/1/locations/2"] }
"#;

    /// Each text is refused with the issue given beside it.
    fn refused_for(cases: &[(String, &str)]) {
        for (text, want) in cases {
            let e = match Brands::parse(Path::new("b.toml"), text) {
                Ok(_) => String::from("accepted"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }

    #[test]
    fn read_apps_need_the_credentials_of_their_platform() {
        let b = Brands::parse(Path::new("b.toml"), PULLED).unwrap();
        let yt = b.app("acme-youtube").unwrap();
        assert!(yt.secret.is_none(), "YouTube has no webhooks");
        assert!(
            b.app("acme-reviews").unwrap().secret.is_none(),
            "reviews read without push"
        );
        assert!(b.app(META_APP).unwrap().pull.is_some());
        let acme = BrandId::parse("acme").unwrap();
        assert_eq!(
            b.app_of(&acme, platforms::source(Platform::YouTube)),
            Some("acme-youtube")
        );
        assert_eq!(b.accounts_of(&acme).len(), 4);
        let refs = b.secret_refs();
        for r in [
            "META_SYSTEM_USER_TOKEN",
            "YT_REFRESH",
            "REDDIT_SECRET",
            "GBP_CLIENT_SECRET",
        ] {
            assert!(refs.contains(&SecretRef::Env(r.into())), "{r}");
        }

        let cases = [
            (
                PULLED.replace("[apps.acme-youtube.pull]\n", "[apps.acme-youtube.x]\n"),
                "unknown field `x`",
            ),
            (
                PULLED.replace("refresh_token = { env = \"YT_REFRESH\" }\n", ""),
                "apps.acme-youtube.pull.refresh_token: an OAuth app needs",
            ),
            (
                PULLED.replace("username = \"Acme_Officiel\"\n", ""),
                "apps.acme-reddit.pull.username: the Reddit account",
            ),
            (
                PULLED.replace(
                    "user_agent = \"web:fr.acme.vigie:1.0 (by /u/Acme_Officiel)\"\n",
                    "",
                ),
                "apps.acme-reddit.pull.user_agent: Reddit asks every client",
            ),
            (
                PULLED.replace(
                    "access_token = { env = \"META_SYSTEM_USER_TOKEN\" }",
                    "refresh_token = { env = \"X\" }",
                ),
                "meta.pull.access_token: gap repair reads with a system user's token",
            ),
            (
                PULLED.replace(
                    "client_id = \"p-jcoLKBynTLew\"",
                    "client_id = \"p\"\napi_url = \"http://proxy.example\"",
                ),
                "apps.acme-reddit.pull.api_url: must be https",
            ),
            (
                PULLED.replace("[\"r/acme\"]", "[\"acme\"]"),
                "brands[0].accounts.reddit[0]: must be a subreddit",
            ),
            (
                PULLED.replace("[\"UCacmeAcmeAcmeAcmeAcme00\"]", "[\"@acme\"]"),
                "brands[0].accounts.youtube[0]: must be a channel id",
            ),
            (
                PULLED.replace(
                    "platform = \"reddit\"\n[apps.acme-reddit.pull]",
                    "platform = \"reddit\"\nsecret = { env = \"S\" }\n[apps.acme-reddit.pull]",
                ),
                "apps.acme-reddit.secret: an app that is only read has none",
            ),
        ];
        refused_for(&cases);
        // a YouTube app with no credentials at all
        let bare = PULLED.replace(
            "[apps.acme-youtube.pull]\nclient_id = \"1234.apps.googleusercontent.com\"\nclient_secret = { env = \"YT_CLIENT_SECRET\" }\nrefresh_token = { env = \"YT_REFRESH\" }\n",
            "",
        );
        assert!(issues(&bare).contains("apps.acme-youtube.pull: this platform has no webhooks"));
    }

    #[test]
    fn push_apps_may_be_read_too_or_only_read() {
        let text = format!(
            "{PULLED}\n{}",
            r#"
[apps.acme-x]
platform = "x"
[apps.acme-x.pull]
access_token = { env = "X_BEARER" }

[apps.acme-linkedin]
platform = "linkedin"
secret = { env = "LI_SECRET" }
[apps.acme-linkedin.pull]
client_id = "86abcdefgh1234"
client_secret = { env = "LI_SECRET" }
refresh_token = { env = "LI_REFRESH" }
"#
        )
        .replace(
            "google = [\"accounts/1/locations/2\"] }",
            "google = [\"accounts/1/locations/2\"], x = [\"2244994945\"], linkedin = [\"2414183\"] }",
        );
        let b = Brands::parse(Path::new("b.toml"), &text).unwrap();
        assert!(
            b.app("acme-x").unwrap().secret.is_none(),
            "an X app without webhooks is only read"
        );
        let li = b.app("acme-linkedin").unwrap();
        assert!(
            li.secret.is_some() && li.pull.is_some(),
            "pushed and repaired"
        );
        let cases = [
            (
                text.replace(
                    "access_token = { env = \"X_BEARER\" }",
                    "access_token = { env = \"X_BEARER\" }\nrefresh_token = { env = \"R\" }",
                ),
                "apps.acme-x.pull.refresh_token: the app's bearer token does not refresh",
            ),
            (
                text.replace("access_token = { env = \"X_BEARER\" }", "client_id = \"c\""),
                "apps.acme-x.pull.access_token: gap repair reads with the app's bearer token",
            ),
            (
                text.replace("refresh_token = { env = \"LI_REFRESH\" }\n", ""),
                "apps.acme-linkedin.pull.refresh_token: an OAuth app needs",
            ),
            (
                text.replace(
                    "platform = \"x\"\n[apps.acme-x.pull]",
                    "platform = \"x\"\n[apps.acme-x.other]",
                ),
                "unknown field `other`",
            ),
        ];
        refused_for(&cases);
    }

    const APPS: &str = r#"
[apps.agency-a]
platform = "meta"
secret = { env = "A_SECRET" }
verify_token = { env = "A_TOKEN" }

[apps.agency-b]
platform = "meta"
secret = { env = "B_SECRET" }
verify_token = { env = "B_TOKEN" }

[apps.x-main]
platform = "x"
secret = { env = "X_SECRET" }

[apps.tiktok]
platform = "tiktok"
secret = { env = "TT_SECRET" }
tolerance_seconds = 120

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
accounts = { x = ["2244994945"], tiktok = ["-000OXv3Jb5RkQZ"] }
apps = ["agency-a"]

[[brands]]
id = "globex"
name = "Globex"
accounts = { instagram = ["17841400000000002"], linkedin = ["2414183"] }
apps = ["agency-b"]
"#;

    #[test]
    fn brands_name_their_app_and_a_platform_with_one_app_needs_no_name() {
        use crate::platforms::{linkedin::LinkedIn, meta::Meta, tiktok::TikTok, x::X};
        let text =
            format!("{APPS}\n[apps.li]\nplatform = \"linkedin\"\nsecret = {{ env = \"LI\" }}\n");
        let brands = Brands::parse(Path::new("brands.toml"), &text).unwrap();
        let acme = BrandId::parse("acme").unwrap();
        let globex = BrandId::parse("globex").unwrap();
        assert_eq!(brands.app_of(&acme, &Meta), Some("agency-a"));
        assert_eq!(brands.app_of(&globex, &Meta), Some("agency-b"));
        // One app for the platform: the brand's without naming it.
        assert_eq!(brands.app_of(&acme, &X), Some("x-main"));
        assert_eq!(brands.app_of(&acme, &TikTok), Some("tiktok"));
        assert_eq!(brands.app_of(&globex, &LinkedIn), Some("li"));
        assert_eq!(brands.app_of(&globex, &X), None);
        assert_eq!(
            brands.owner(Platform::X, "2244994945").unwrap().id.as_str(),
            "acme"
        );
        assert_eq!(
            brands
                .owner(Platform::Instagram, "17841400000000002")
                .unwrap()
                .id,
            globex
        );
        assert_eq!(brands.app("tiktok").unwrap().tolerance_seconds, 120);
        assert_eq!(brands.app("x-main").unwrap().tolerance_seconds, 300);
        assert_eq!(brands.secret_refs().len(), 7);
    }

    #[test]
    fn app_mistakes_are_named() {
        // LinkedIn accounts, no LinkedIn app.
        let e = issues(APPS);
        assert!(
            e.contains(
                "brands[1].apps: the brand has linkedin accounts but no linkedin app is configured"
            ),
            "{e}"
        );
        let two_meta = APPS.replace("apps = [\"agency-a\"]\n", "");
        let e = issues(&two_meta);
        assert!(
            e.contains(
                "brands[0].apps: several meta apps are configured: name the brand's in apps"
            ),
            "{e}"
        );
        let e = issues(&APPS.replace(
            "apps = [\"agency-a\"]",
            "apps = [\"agency-a\", \"agency-b\"]",
        ));
        assert!(
            e.contains("brands[0].apps[1]: agency-a is already the brand's meta app"),
            "{e}"
        );
        let e = issues(&APPS.replace("apps = [\"agency-a\"]", "apps = [\"nope\"]"));
        assert!(e.contains("brands[0].apps[0]: no app \"nope\""), "{e}");
        let e = issues(&APPS.replace("platform = \"x\"", "platform = \"myspace\""));
        assert!(e.contains("apps.x-main.platform: must be one of"), "{e}");
        let e = issues(&APPS.replace("verify_token = { env = \"B_TOKEN\" }\n", ""));
        assert!(
            e.contains("apps.agency-b.verify_token: a Meta app needs"),
            "{e}"
        );
        let e = issues(&APPS.replace("tolerance_seconds = 120", "tolerance_seconds = 0"));
        assert!(
            e.contains("apps.tiktok.tolerance_seconds: must be 1-86400"),
            "{e}"
        );
        let e = issues(&APPS.replace("x = [\"2244994945\"]", "x = [\"@acme\"]"));
        assert!(
            e.contains("brands[0].accounts.x[0]: must be the platform's numeric id"),
            "{e}"
        );
        let e = issues(&APPS.replace("x = [", "myspace = ["));
        assert!(
            e.contains("brands[0].accounts.myspace: must name a platform"),
            "{e}"
        );
        let e = issues(&APPS.replace("tiktok = [\"-000OXv3Jb5RkQZ\"]", "tiktok = [\"a b\"]"));
        assert!(
            e.contains("brands[0].accounts.tiktok[0]: must be the account's open id"),
            "{e}"
        );
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
