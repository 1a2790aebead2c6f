//! `vigie`: the command line and, later, the local all-in-one server.

mod bench;
mod bench_inbox;
mod brand;
mod check_config;
mod classify;
mod draft;
mod eval;
mod eval_signals;
mod http;
mod inbox;
mod load;
mod poll;
mod replay;
mod serve;
mod user;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vigie_model::{ModelOptions, SentimentModel};

#[derive(Parser)]
#[command(name = "vigie", version, about = "Triage of brand community comments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify texts: arguments, lines on stdin, or a JSONL file; JSONL out.
    Classify(classify::ClassifyArgs),
    /// Accuracy, macro-F1 and confusion matrices of labelled JSONL, per language; with
    /// --signals, urgency, risk signals and intent beside the phrase list alone.
    Eval(eval::EvalArgs),
    /// Throughput, latency, load time and memory, beside the Python onnxruntime baseline.
    Bench(bench::BenchArgs),
    /// The cost of the risk-signal and intent heads and of urgency beyond the encoder.
    BenchHeads(bench::BenchHeadsArgs),
    /// The whole pipeline in one process: webhooks, classification, escalation, review API.
    Serve(serve::ServeArgs),
    /// Read every configured feed once: YouTube, Reddit, Google reviews, and gap repair of
    /// Facebook and Instagram (`serve` does it on a timer).
    Poll(poll::PollArgs),
    /// Send sample webhook deliveries to a running vigie.
    Replay(replay::ReplayArgs),
    /// Check the brand configuration (and its secrets).
    CheckConfig(check_config::CheckConfigArgs),
    /// Brand content (voice, approved replies, facts) between folders and the store.
    #[command(subcommand)]
    Brand(brand::BrandCommand),
    /// The managers' inbox: file a store's comments in it again.
    #[command(subcommand)]
    Inbox(inbox::InboxCommand),
    /// The people who review: add, remove, list (roles per brand; passwords hashed), and
    /// their API tokens.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Reply suggestions for a comment (or JSONL on stdin): action, intent, language, checks.
    Draft(draft::DraftArgs),
    /// The drafter on a labelled set: action, intent, coverage, checks, forbidden text, speed.
    EvalDrafts(draft::EvalDraftsArgs),
    /// Load-test the webhook intake of a running vigie (loopback only).
    Load(load::LoadArgs),
    /// Time the managers' inbox endpoint over a store of many open comments (loopback).
    BenchInbox(bench_inbox::BenchInboxArgs),
}

/// Where the model is and how to run it; shared by every command that loads it.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Folder with model.json, model.onnx and tokenizer.json.
    #[arg(long, env = "VIGIE_MODEL_DIR", default_value = "model/dist")]
    pub model_dir: PathBuf,
    /// ONNX Runtime intra-op threads per session (0: the cores over the sessions; with
    /// --sessions 0 too, 1).
    #[arg(long, env = "VIGIE_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Sessions that run inference calls at the same time (0: the cores over --threads; with
    /// --threads 0 too, one per core).
    #[arg(long, env = "VIGIE_SESSIONS", default_value_t = 0)]
    pub sessions: usize,
    /// Texts per inference call.
    #[arg(long, env = "VIGIE_BATCH_SIZE", default_value_t = 32)]
    pub batch_size: usize,
    /// Most padded tokens per inference call (one long text still gets its own call).
    #[arg(long, env = "VIGIE_CALL_TOKENS", default_value_t = vigie_model::CALL_TOKENS)]
    pub call_tokens: usize,
    /// ONNX Runtime's CPU arena: buffers of the largest call are kept for later ones.
    #[arg(long, env = "VIGIE_CPU_ARENA", default_value_t = true, action = clap::ArgAction::Set)]
    pub cpu_arena: bool,
}

impl ModelArgs {
    pub fn options(&self) -> ModelOptions {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (threads, sessions) = vigie_model::layout(self.threads, self.sessions, cores);
        ModelOptions {
            intra_threads: threads,
            sessions,
            batch_size: self.batch_size,
            call_tokens: self.call_tokens,
            cpu_arena: self.cpu_arena,
            ..ModelOptions::new(&self.model_dir)
        }
    }

    pub fn load(&self) -> anyhow::Result<SentimentModel> {
        Ok(SentimentModel::load(&self.options())?)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Classify(args) => classify::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchHeads(args) => bench::run_heads(args),
        Command::Serve(args) => serve::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Poll(args) => poll::run(args).await,
        Command::CheckConfig(args) => check_config::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::BenchInbox(args) => bench_inbox::run(args).await,
        Command::Draft(args) => draft::run(args).await,
        Command::Brand(command) => brand::run(command).await,
        Command::User(command) => user::run(command).await,
        Command::Inbox(command) => inbox::run(command).await,
        Command::EvalDrafts(args) => draft::eval(args).await,
    }
}
