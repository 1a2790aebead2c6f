//! `vigie user add|remove|list`: the people who review, with a role per brand. The
//! password comes from `VIGIE_PASSWORD` or the first line of standard input, never from
//! the command line (it would stay in the shell's history); only its Argon2id hash is
//! stored.
//!
//! `vigie user token add|revoke`: API tokens for scripts (`Authorization: Bearer ...`). A
//! new token is printed once, alone on standard output; only its SHA-256 is stored, and
//! `user list` shows token ids and labels, never a token.

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
    /// List users, their roles and their tokens' ids and labels (never a password hash
    /// or a token).
    List(ListArgs),
    /// API tokens for scripts: add (printed once), revoke.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token for a user and print it, once.
    Add(TokenAddArgs),
    /// Revoke a user's token by its id (as `user list` shows it).
    Revoke(TokenRevokeArgs),
}

#[derive(Args)]
pub struct TokenAddArgs {
    pub name: String,
    /// What the token is for (shown by `user list`).
    #[arg(long)]
    pub label: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct TokenRevokeArgs {
    pub name: String,
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
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
                session_epoch: 0,
                tokens: Vec::new(),
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
                for t in &u.tokens {
                    println!("  token {}\t{}\t{}", t.id, t.label, t.created_at.rfc3339());
                }
            }
            Ok(())
        }
        UserCommand::Token(TokenCommand::Add(args)) => {
            let name = user_name(&args.name)?;
            let store = users(&args.store).await?;
            let (record, token) =
                vigie_review::auth::mint_token(store.as_ref(), &name, &args.label)
                    .await
                    .map_err(|e| token_error(&name, e))?;
            eprintln!(
                "{name}: token {} ({}) made; it is shown this once, keep it now",
                record.id, record.label
            );
            println!("{}", token.expose());
            Ok(())
        }
        UserCommand::Token(TokenCommand::Revoke(args)) => {
            let name = user_name(&args.name)?;
            let store = users(&args.store).await?;
            vigie_review::auth::revoke_token(store.as_ref(), &name, &args.id)
                .await
                .map_err(|e| token_error(&name, e))?;
            println!("{name}: token {} revoked", args.id);
            Ok(())
        }
    }
}

fn token_error(name: &UserName, e: vigie_review::auth::AuthError) -> anyhow::Error {
    match e {
        vigie_review::auth::AuthError::NoSuchUser => anyhow::anyhow!("no user {name}"),
        vigie_review::auth::AuthError::NoSuchToken => anyhow::anyhow!("{name} has no such token"),
        e => e.into(),
    }
}

fn roles_text(u: &User) -> String {
    u.roles
        .iter()
        .map(|(b, r)| format!("{b}={r}"))
        .collect::<Vec<_>>()
        .join(",")
}
