//! `vigie inbox refile`: files every comment of a store in the managers' inbox again (a
//! DynamoDB table written before the inbox existed, or one to mend).

use clap::{Args, Subcommand};

use crate::brand::{Opened, StoreArgs};

#[derive(Subcommand)]
pub enum InboxCommand {
    /// File every comment in the inbox as its comment and review say now (safe beside a
    /// running pipeline; running it twice changes nothing).
    Refile(RefileArgs),
}

#[derive(Args)]
pub struct RefileArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn run(command: InboxCommand) -> anyhow::Result<()> {
    let InboxCommand::Refile(args) = command;
    match args.store.opened().await? {
        // the SQLite adapter files an older database when it opens it, as done above
        Opened::Sqlite(_) => {
            println!("{}: the inbox is filed", args.store.db.display());
            Ok(())
        }
        Opened::Dynamo(store) => {
            let bar = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")?,
            );
            let done = store
                .refile_inbox(&mut |so_far| {
                    bar.set_message(format!(
                        "{} comments read, {} filed, {} removed",
                        so_far.seen, so_far.filed, so_far.removed
                    ));
                    bar.tick();
                })
                .await?;
            bar.finish_and_clear();
            println!(
                "{}: {} comments read, {} inbox items filed, {} removed, {} already right, {} comment items rewritten in today's layout",
                store.table_name(),
                done.seen,
                done.filed,
                done.removed,
                done.unchanged,
                done.rewritten
            );
            Ok(())
        }
    }
}
