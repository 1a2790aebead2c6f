//! `vigie draft` and `vigie eval-drafts`: the drafter on any comment, and on the labelled
//! evaluation set (samples/eval/drafts.jsonl), with the brand content of plain folders.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Triage,
};
use vigie_core::content::{Action, BrandContent, ContentFiles};
use vigie_core::draft::{self, DraftEngine, GroundedEngine};
use vigie_core::drafts::Drafts;
use vigie_core::time::Timestamp;
use vigie_core::understanding::Embedding;
use vigie_core::urgency::Urgency;
use vigie_draft::spelling::HunspellSpeller;
use vigie_model::SentimentModel;

use crate::ModelArgs;

/// Reads a brand's content folder (docs/brand-content.md).
pub fn read_folder(dir: &Path, brand: &BrandId) -> anyhow::Result<BrandContent> {
    let files = ContentFiles::read_dir(dir)?;
    BrandContent::from_files(brand, &files, Timestamp::now(), "import")
        .map_err(|e| anyhow::anyhow!("{}/{e}", dir.display()))
}

/// Gives every approved reply the embedding of its body (slots left out), so that drafting
/// ranks replies without a model.
pub fn embed_replies(content: &mut BrandContent, model: &SentimentModel) -> anyhow::Result<()> {
    let texts: Vec<String> = content
        .replies
        .iter()
        .map(vigie_core::content::ApprovedReply::embedding_text)
        .collect();
    let predictions = model.classify(&texts)?;
    for (r, p) in content.replies.iter_mut().zip(predictions) {
        r.embedding = Some(Embedding::quantize(&p.embedding));
    }
    content.embedding_model = Some(model.version().to_owned());
    Ok(())
}

/// Embeds again, as each brand's next content version, approved replies that another
/// model embedded (after a model upgrade: retrieval compares only vectors of one model)
/// or that have no embedding (edited on a review page that had no model at hand).
/// Returns the brands whose content was embedded again.
pub async fn reembed_stale(
    store: &dyn vigie_core::ports::BrandContentStore,
    brands: &[BrandId],
    model: &SentimentModel,
) -> anyhow::Result<Vec<BrandId>> {
    let mut done = Vec::new();
    for brand in brands {
        let Some(current) = store.content(brand).await? else {
            continue;
        };
        if !current.needs_embeddings(model.version()) {
            continue;
        }
        let mut next = current.clone();
        embed_replies(&mut next, model)?;
        next.updated_by = format!("re-embedded for model {}", model.version());
        next.updated_at = Timestamp::now();
        match store.put_content(&next, Some(current.version)).await {
            Ok(version) => {
                tracing::info!(%brand, version, model = model.version(), "approved replies embedded again for the loaded model");
                done.push(brand.clone());
            }
            // a manager stored a version meanwhile: the next start embeds that one
            Err(vigie_core::ports::StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Content of every brand folder under `root`, embedded.
pub struct Library {
    pub brands: BTreeMap<String, BrandContent>,
}

impl Library {
    pub fn load(root: &Path, model: &SentimentModel, only: Option<&str>) -> anyhow::Result<Self> {
        let mut brands = BTreeMap::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .with_context(|| format!("cannot read {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("voice.toml").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let brand =
                BrandId::parse(&name).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            let mut content = read_folder(&dir, &brand)?;
            content.version = 1;
            embed_replies(&mut content, model)?;
            brands.insert(name, content);
        }
        Ok(Self { brands })
    }
}

/// A comment as the webhook would store it, triaged by the model.
pub fn triaged_comment(
    model: &SentimentModel,
    brand: &BrandId,
    platform: &str,
    author: Option<&str>,
    text: &str,
) -> anyhow::Result<Comment> {
    let p = model.classify(&[text])?.remove(0);
    let heads = model
        .heads()
        .context("the model has no signal heads: build them with scripts/build-model")?;
    let (platform_enum, source) = match platform {
        "facebook" => (Platform::Facebook, None),
        "instagram" => (Platform::Instagram, None),
        other => (Platform::Generic, Some(other.to_owned())),
    };
    let now = Timestamp::now();
    Ok(Comment {
        key: CommentKey::new(brand.clone(), platform_enum, "cli")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        thread_id: "cli".into(),
        parent_id: None,
        source,
        author: Author {
            id: "cli".into(),
            name: author.map(str::to_owned),
            followers: None,
        },
        text: Some(CommentText::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?),
        attachment: None,
        truncation: None,
        permalink: None,
        created_at: now,
        received_at: now,
        version: 1,
        state: CommentState::Triaged,
        triage: Some(Triage {
            version: 1,
            sentiment: Some(vigie_classify::sentiment(&p, model.version())),
            understanding: Some(vigie_classify::understanding(heads, &p.embedding)),
            embedding: Some(Embedding::quantize(&p.embedding)),
            urgency: Urgency {
                score: 0,
                escalate: false,
                tier: None,
                respond_within_minutes: None,
                reasons: vec![],
            },
            triaged_at: now,
        }),
        escalated_version: None,
        private: false,
        revision: 0,
    })
}

/// One line of output: the comment's drafts.
#[derive(Serialize)]
struct Out<'a> {
    brand: &'a str,
    platform: &'a str,
    text: &'a str,
    #[serde(flatten)]
    drafts: &'a Drafts,
}

#[derive(Args)]
pub struct DraftArgs {
    /// The comment; without one, JSONL on stdin: {"brand", "platform", "text", "author"?}.
    pub text: Option<String>,
    #[arg(long)]
    pub brand: Option<String>,
    /// facebook, instagram, x, linkedin, tiktok, youtube or generic (a review site).
    #[arg(long, default_value = "facebook")]
    pub platform: String,
    /// The author's display name (its first name may greet them).
    #[arg(long)]
    pub author: Option<String>,
    /// Folder of brand content folders (docs/brand-content.md).
    #[arg(long, default_value = "samples/brands")]
    pub content: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Deserialize)]
struct InputRow {
    brand: String,
    #[serde(default = "default_platform")]
    platform: String,
    text: String,
    #[serde(default)]
    author: Option<String>,
}

fn default_platform() -> String {
    "facebook".into()
}

pub async fn run(args: DraftArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let speller = HunspellSpeller::from_env()?;
    let rows: Vec<InputRow> = match &args.text {
        Some(text) => vec![InputRow {
            brand: args
                .brand
                .clone()
                .context("--brand is needed with a comment")?,
            platform: args.platform.clone(),
            text: text.clone(),
            author: args.author.clone(),
        }],
        None => std::io::stdin()
            .lock()
            .lines()
            .enumerate()
            .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(|(n, l)| {
                let l = l?;
                serde_json::from_str(&l).with_context(|| format!("stdin line {}", n + 1))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let library = Library::load(&args.content, &model, args.brand.as_deref())?;
    let engine = GroundedEngine;
    let engines: [&dyn DraftEngine; 1] = [&engine];
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in &rows {
        let content = library.brands.get(&row.brand).with_context(|| {
            format!(
                "no content for brand {:?} in {}",
                row.brand,
                args.content.display()
            )
        })?;
        let comment = triaged_comment(
            &model,
            &content.brand,
            &row.platform,
            row.author.as_deref(),
            &row.text,
        )?;
        let drafts = draft::draft_comment(
            &comment,
            content,
            &engines,
            &speller,
            &row.platform,
            Timestamp::now(),
        )
        .await;
        serde_json::to_writer(
            &mut out,
            &Out {
                brand: &row.brand,
                platform: &row.platform,
                text: &row.text,
                drafts: &drafts,
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Args)]
pub struct EvalDraftsArgs {
    /// Labelled comments: {"brand", "platform", "author"?, "text", "lang", "intent",
    /// "expected_action", "acceptable_actions", "forbidden"}.
    #[arg(long, default_value = "samples/eval/drafts.jsonl")]
    pub data: PathBuf,
    #[arg(long, default_value = "samples/brands")]
    pub content: PathBuf,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print each miss (wrong action, forbidden text, no draft where one was needed).
    #[arg(long)]
    pub misses: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Deserialize)]
struct EvalRow {
    brand: String,
    platform: String,
    #[serde(default)]
    author: Option<String>,
    text: String,
    lang: String,
    intent: String,
    expected_action: Action,
    acceptable_actions: Vec<Action>,
    #[serde(default)]
    forbidden: Vec<String>,
}

#[derive(Default, Serialize)]
pub struct DraftFigures {
    pub comments: usize,
    pub action_accuracy: f64,
    pub intent_accuracy: f64,
    /// Share of comments that need a reply (acceptable actions include a reply) and get one.
    pub coverage: f64,
    /// Share of stored suggestions passing every check (by construction 1 when any).
    pub stored_passing: f64,
    pub suggestions: usize,
    pub rejected: usize,
    pub forbidden_hits: usize,
    pub language_match: f64,
    pub draft_ms_p50: f64,
    pub draft_ms_p99: f64,
    /// Rejected drafts per failed check.
    pub rejected_by_check: BTreeMap<String, usize>,
}

pub async fn eval(args: EvalDraftsArgs) -> anyhow::Result<()> {
    let model = args.model.load()?;
    let speller = HunspellSpeller::from_env()?;
    let file = std::fs::File::open(&args.data)
        .with_context(|| format!("cannot open {}", args.data.display()))?;
    let rows: Vec<EvalRow> = std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
        .map(|(n, l)| {
            let l = l?;
            serde_json::from_str(&l).with_context(|| format!("{}:{}", args.data.display(), n + 1))
        })
        .collect::<anyhow::Result<_>>()?;
    let library = Library::load(&args.content, &model, None)?;
    let engine = GroundedEngine;
    let engines: [&dyn DraftEngine; 1] = [&engine];
    let progress = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} comments ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let mut groups: BTreeMap<String, DraftFigures> = BTreeMap::new();
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // action ok, intent ok, needs a reply, covered, language ok, language n, passing
    let mut tallies: BTreeMap<String, [usize; 7]> = BTreeMap::new();
    for row in &rows {
        let content = library
            .brands
            .get(&row.brand)
            .with_context(|| format!("no content for brand {:?}", row.brand))?;
        let comment = triaged_comment(
            &model,
            &content.brand,
            &row.platform,
            row.author.as_deref(),
            &row.text,
        )?;
        let t0 = Instant::now();
        let d = draft::draft_comment(
            &comment,
            content,
            &engines,
            &speller,
            &row.platform,
            Timestamp::now(),
        )
        .await;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let action_ok =
            row.acceptable_actions.contains(&d.action) || d.action == row.expected_action;
        let intent_ok = d.intent.map(|i| i.as_str()) == Some(row.intent.as_str());
        let needs = row.acceptable_actions.iter().all(|a| {
            matches!(
                a,
                Action::ReplyPublic | Action::ReplyPrivate | Action::Escalate
            )
        }) && matches!(
            row.expected_action,
            Action::ReplyPublic | Action::ReplyPrivate
        );
        let covered = needs && !d.suggestions.is_empty();
        let hits: Vec<&String> = row
            .forbidden
            .iter()
            .filter(|f| {
                d.suggestions.iter().any(|s| {
                    s.text
                        .to_lowercase()
                        .replace('’', "'")
                        .contains(&f.to_lowercase().replace('’', "'"))
                })
            })
            .collect();
        let served = content.voice.serves(&row.lang);
        if args.misses && (!action_ok || !hits.is_empty() || (needs && !covered)) {
            eprintln!(
                "miss [{}] {:?}: action {} (expected {}), intent {:?} (gold {}), {} suggestion(s){}{}",
                row.brand,
                row.text,
                d.action,
                row.expected_action,
                d.intent.map(|i| i.as_str()),
                row.intent,
                d.suggestions.len(),
                if hits.is_empty() {
                    String::new()
                } else {
                    format!(", forbidden {hits:?}")
                },
                d.rejected
                    .first()
                    .map(|r| format!(", rejected: {:?}", r.failed))
                    .unwrap_or_default(),
            );
        }
        for key in [row.brand.clone(), "all".to_owned()] {
            let g = groups.entry(key.clone()).or_default();
            g.comments += 1;
            g.suggestions += d.suggestions.len();
            g.rejected += d.rejected.len();
            g.forbidden_hits += hits.len();
            for r in &d.rejected {
                for f in &r.failed {
                    *g.rejected_by_check.entry(f.check.clone()).or_default() += 1;
                }
            }
            let t = tallies.entry(key.clone()).or_default();
            t[0] += usize::from(action_ok);
            t[1] += usize::from(intent_ok);
            t[2] += usize::from(needs);
            t[3] += usize::from(covered);
            if served {
                t[4] += usize::from(d.lang == row.lang);
                t[5] += 1;
            }
            t[6] += d
                .suggestions
                .iter()
                .filter(|s| s.checks.iter().all(|c| c.passed))
                .count();
            times.entry(key).or_default().push(ms);
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    for (key, g) in groups.iter_mut() {
        let t = tallies[key];
        let n = g.comments as f64;
        g.action_accuracy = t[0] as f64 / n;
        g.intent_accuracy = t[1] as f64 / n;
        g.coverage = t[3] as f64 / t[2].max(1) as f64;
        g.language_match = t[4] as f64 / t[5].max(1) as f64;
        g.stored_passing = if g.suggestions == 0 {
            1.0
        } else {
            t[6] as f64 / g.suggestions as f64
        };
        let mut ts = times[key].clone();
        ts.sort_by(f64::total_cmp);
        g.draft_ms_p50 = ts[ts.len() / 2];
        g.draft_ms_p99 = ts[((ts.len() as f64) * 0.99).ceil() as usize - 1];
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(());
    }
    println!(
        "{:<8} {:>5} {:>7} {:>7} {:>9} {:>8} {:>9} {:>9} {:>6} {:>9} {:>9}",
        "brand",
        "n",
        "action",
        "intent",
        "coverage",
        "passing",
        "forbidden",
        "language",
        "drafts",
        "p50 ms",
        "p99 ms"
    );
    for (k, g) in &groups {
        println!(
            "{k:<8} {:>5} {:>7.3} {:>7.3} {:>9.3} {:>8.3} {:>9} {:>9.3} {:>6} {:>9.2} {:>9.2}",
            g.comments,
            g.action_accuracy,
            g.intent_accuracy,
            g.coverage,
            g.stored_passing,
            g.forbidden_hits,
            g.language_match,
            g.suggestions,
            g.draft_ms_p50,
            g.draft_ms_p99
        );
    }
    if let Some(all) = groups.get("all") {
        println!(
            "rejected drafts by failed check: {:?}",
            all.rejected_by_check
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use vigie_core::ports::BrandContentStore;

    use super::*;

    fn tiny() -> SentimentModel {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model/testdata/tiny");
        SentimentModel::load(&vigie_model::ModelOptions {
            intra_threads: 1,
            ..vigie_model::ModelOptions::new(dir)
        })
        .expect("the tiny model loads")
    }

    #[tokio::test]
    async fn replies_embedded_by_another_model_are_embedded_again_once() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/brands");
        let acme = BrandId::parse("acme").unwrap();
        let globex = BrandId::parse("globex").unwrap();
        let store = vigie_sqlite::Database::in_memory().unwrap().store();
        let model = tiny();
        let mut old = read_folder(&root.join("acme"), &acme).unwrap();
        embed_replies(&mut old, &model).unwrap();
        old.embedding_model = Some("an-earlier-model".into());
        store.put_content(&old, None).await.unwrap();

        let done = reembed_stale(&store, &[acme.clone(), globex], &model)
            .await
            .unwrap();
        assert_eq!(
            done,
            std::slice::from_ref(&acme),
            "globex has no content: nothing to do"
        );
        let now = store.content(&acme).await.unwrap().unwrap();
        assert_eq!(now.version, 2);
        assert_eq!(now.embedding_model.as_deref(), Some(model.version()));
        assert_eq!(now.replies.len(), old.replies.len());
        assert!(now.replies.iter().all(|r| r.embedding.is_some()));
        assert!(now.updated_by.contains(model.version()));
        // the same text, the same vector: what changed is only the model recorded
        assert_eq!(now.replies, old.replies);

        let again = reembed_stale(&store, std::slice::from_ref(&acme), &model)
            .await
            .unwrap();
        assert!(again.is_empty());
        assert_eq!(store.content(&acme).await.unwrap().unwrap().version, 2);
    }
}
