//! `vigie brand import` / `vigie brand export`: a brand's content (voice, approved replies,
//! facts, words) between plain folders (docs/brand-content.md) and the store, versioned.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use vigie_core::comment::BrandId;
use vigie_core::content::ContentFiles;
use vigie_core::ports::BrandContentStore;
use vigie_sqlite::Database;

use crate::ModelArgs;

#[derive(Subcommand)]
pub enum BrandCommand {
    /// Validate brand folders and store each as its brand's next content version (the
    /// approved replies get their embeddings here, so drafting needs no model).
    Import(ImportArgs),
    /// Write a brand's current content version to a folder.
    Export(ExportArgs),
    /// Embed the approved replies that have no embedding of the loaded model (edited on
    /// the review page of a deployment, or embedded by an earlier model), each brand's as
    /// its next content version.
    Embed(EmbedArgs),
}

#[derive(Args)]
pub struct EmbedArgs {
    /// The brands configured here are embedded.
    #[arg(long, env = "VIGIE_CONFIG", default_value = "config/brands.toml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Brand folders (named after the brand id), or folders of them.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Who imports (recorded with the version).
    #[arg(long, default_value = "import")]
    pub by: String,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args)]
pub struct ExportArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub brand: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where brand content is kept: the SQLite file of `vigie serve`, or a deployment's
/// DynamoDB table.
#[derive(Args)]
pub struct StoreArgs {
    #[arg(long, env = "VIGIE_DB", default_value = ".vigie/vigie.db")]
    pub db: PathBuf,
    /// A deployment's DynamoDB table instead of --db (region and credentials from the
    /// AWS environment, as for the AWS CLI).
    #[arg(long)]
    pub table: Option<String>,
}

/// The store named on the command line, whichever adapter it is.
pub enum Opened {
    Sqlite(vigie_sqlite::SqliteStore),
    Dynamo(vigie_aws::DynamoStore),
}

impl StoreArgs {
    pub async fn opened(&self) -> anyhow::Result<Opened> {
        if let Some(table) = &self.table {
            let client = aws_sdk_dynamodb::Client::new(&vigie_aws::sdk_config().await);
            return Ok(Opened::Dynamo(vigie_aws::DynamoStore::new(client, table)));
        }
        let db = &self.db;
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let db = Database::open(db).with_context(|| format!("cannot open {}", db.display()))?;
        Ok(Opened::Sqlite(db.store()))
    }

    async fn open(&self) -> anyhow::Result<Box<dyn BrandContentStore>> {
        Ok(match self.opened().await? {
            Opened::Sqlite(s) => Box::new(s),
            Opened::Dynamo(s) => Box::new(s),
        })
    }
}

fn brand_dirs(dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join("voice.toml").is_file() {
            out.push(d.clone());
            continue;
        }
        let mut inner: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| {
                format!(
                    "{} is neither a brand folder (voice.toml) nor a folder of them",
                    d.display()
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("voice.toml").is_file())
            .collect();
        if inner.is_empty() {
            anyhow::bail!("{}: no voice.toml in it or in its folders", d.display());
        }
        inner.sort();
        out.extend(inner);
    }
    Ok(out)
}

pub async fn run(command: BrandCommand) -> anyhow::Result<()> {
    match command {
        BrandCommand::Import(args) => {
            let dirs = brand_dirs(&args.dirs)?;
            // every folder valid before anything is stored
            let mut contents = Vec::new();
            for dir in &dirs {
                let name = dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let brand = BrandId::parse(&name).map_err(|e| {
                    anyhow::anyhow!("{}: the folder name is the brand id: {e}", dir.display())
                })?;
                let mut c = crate::draft::read_folder(dir, &brand)?;
                c.updated_by = args.by.clone();
                contents.push(c);
            }
            let model = args.model.load()?;
            let store = args.store.open().await?;
            for mut c in contents {
                crate::draft::embed_replies(&mut c, &model)?;
                let current = store.content(&c.brand).await?.map(|c| c.version);
                let version = store.put_content(&c, current).await?;
                println!(
                    "{}: content version {version} ({} replies, {} facts, {} words)",
                    c.brand,
                    c.replies.len(),
                    c.facts.len(),
                    c.words.len()
                );
            }
            Ok(())
        }
        BrandCommand::Embed(args) => {
            let brands = vigie_core::config::Brands::load(&args.config)?;
            let ids: Vec<BrandId> = brands.iter().map(|b| b.id.clone()).collect();
            let model = args.model.load()?;
            let store = args.store.open().await?;
            let done = crate::draft::reembed_stale(store.as_ref(), &ids, &model).await?;
            for brand in &ids {
                let state = if done.contains(brand) {
                    "embedded as a new content version"
                } else {
                    "nothing to embed"
                };
                println!("{brand}: {state}");
            }
            Ok(())
        }
        BrandCommand::Export(args) => {
            let brand = BrandId::parse(&args.brand).map_err(|e| anyhow::anyhow!("{e}"))?;
            let store = args.store.open().await?;
            let c = store
                .content(&brand)
                .await?
                .with_context(|| format!("no content stored for {brand} (vigie brand import)"))?;
            let files = c.to_files();
            std::fs::create_dir_all(&args.dir)?;
            for (name, text) in ContentFiles::NAMES.iter().zip([
                &files.voice,
                &files.replies,
                &files.facts,
                &files.words,
                &files.products,
            ]) {
                std::fs::write(args.dir.join(name), text)
                    .with_context(|| format!("cannot write {}", args.dir.join(name).display()))?;
            }
            println!(
                "{brand}: content version {} written to {}",
                c.version,
                args.dir.display()
            );
            Ok(())
        }
    }
}
