//! `vigie check-config`: the brand configuration checked before anything runs.

use std::path::PathBuf;

use clap::Args;
use vigie_core::config::Brands;
use vigie_core::secrets::{EnvSecrets, Secrets};

#[derive(Args)]
pub struct CheckConfigArgs {
    #[arg(long, env = "VIGIE_CONFIG", default_value = "config/brands.toml")]
    pub config: PathBuf,
    /// Also read every secret it refers to (environment variables).
    #[arg(long)]
    pub secrets: bool,
}

pub async fn run(args: CheckConfigArgs) -> anyhow::Result<()> {
    let brands = Brands::load(&args.config)?;
    for b in brands.iter() {
        let tiers: Vec<String> = b
            .urgency
            .tiers
            .iter()
            .map(|t| {
                format!(
                    "{} >= {} ({} min)",
                    t.name, t.min_score, t.respond_within_minutes
                )
            })
            .collect();
        println!(
            "{} ({}): escalate at {}, tiers {}, {} VIP(s), notify {}",
            b.id,
            b.name,
            b.urgency.escalate_at,
            tiers.join(", "),
            b.urgency.vip.len(),
            b.notify
                .as_ref()
                .map(|n| format!("{:?}", n.format))
                .unwrap_or_else(|| "off".into())
        );
        for w in b.urgency.warnings() {
            println!("warning: {}: {w}", b.id);
        }
    }
    if args.secrets {
        Secrets::resolve(&brands, &EnvSecrets).await?;
        println!("every secret resolves");
    }
    println!("{}: ok", args.config.display());
    Ok(())
}
