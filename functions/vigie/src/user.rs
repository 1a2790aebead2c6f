//! `vigie user add|remove|list`: the people who review, with a role per brand. The
//! password comes from `VIGIE_PASSWORD` or the first line of standard input, never from
//! the command line (it would stay in the shell's history); only its Argon2id hash is
//! stored.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::Context;
use clap::{Args, Subcommand};
use vigie_core::comment::BrandId;
use vigie_core::ports::{StoreError, UserStore};
use vigie_core::review::Role;
use vigie_core::users::{User, UserName};

use crate::brand::{Opened, StoreArgs};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (password from VIGIE_PASSWORD or the first line of stdin).
    Add(AddArgs),
    /// Remove a user.
    Remove(NameArgs),
    /// List users and their roles (never their password hashes).
    List(ListArgs),
}

#[derive(Args)]
pub struct AddArgs {
    pub name: String,
    /// A role on a brand, `BRAND=viewer|responder|admin`; repeat for each brand.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct NameArgs {
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `acme=admin` as a brand and its role.
fn parse_role(text: &str) -> anyhow::Result<(BrandId, Role)> {
    let (brand, role) = text
        .split_once('=')
        .with_context(|| format!("--role {text:?}: expected BRAND=viewer|responder|admin"))?;
    let brand = BrandId::parse(brand).map_err(|e| anyhow::anyhow!("--role {text:?}: {e}"))?;
    let role = Role::parse(role)
        .with_context(|| format!("--role {text:?}: the role is one of viewer, responder, admin"))?;
    Ok((brand, role))
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("VIGIE_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn users(store: &StoreArgs) -> anyhow::Result<Box<dyn UserStore>> {
    Ok(match store.opened().await? {
        Opened::Sqlite(s) => Box::new(s),
        Opened::Dynamo(s) => Box::new(s),
    })
}

fn user_name(name: &str) -> anyhow::Result<UserName> {
    UserName::parse(name).map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let name = user_name(&args.name)?;
            let roles: BTreeMap<BrandId, Role> = args
                .roles
                .iter()
                .map(|r| parse_role(r))
                .collect::<anyhow::Result<_>>()?;
            let hash = vigie_review::auth::hash_password(&password()?)?;
            let user = User {
                name: name.clone(),
                password_hash: hash,
                roles,
                revision: 1,
            };
            match users(&args.store).await?.put_user(&user, None).await {
                Ok(()) => {
                    println!("{name}: added ({})", roles_text(&user));
                    Ok(())
                }
                Err(StoreError::Conflict) => {
                    anyhow::bail!("{name} exists already (vigie user remove {name} first)")
                }
                Err(e) => Err(e.into()),
            }
        }
        UserCommand::Remove(args) => {
            let name = user_name(&args.name)?;
            if users(&args.store).await?.remove_user(&name).await? {
                println!("{name}: removed");
                Ok(())
            } else {
                anyhow::bail!("no user {name}")
            }
        }
        UserCommand::List(args) => {
            for u in users(&args.store).await?.users().await? {
                println!("{}\t{}", u.name, roles_text(&u));
            }
            Ok(())
        }
    }
}

fn roles_text(u: &User) -> String {
    u.roles
        .iter()
        .map(|(b, r)| format!("{b}={r}"))
        .collect::<Vec<_>>()
        .join(",")
}
