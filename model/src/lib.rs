//! vigie's sentiment model: three-way sentiment and a sentence embedding per text.
//!
//! The model is an int8 ONNX graph run by ONNX Runtime (loaded at run time from the
//! library of the PyPI `onnxruntime` wheel) with its `tokenizer.json` and `model.json`.
//! One [`SentimentModel`] is built per process and shared by reference between threads.
//!
//! Inputs longer than the model's `max_tokens` (256 for the built model, `<s>` and `</s>`
//! included) keep their first and last pieces; the prediction says it was truncated.

mod card;
mod error;
pub mod metrics;
pub mod pieces;
pub mod runtime;
pub mod signals;
mod tokenize;
mod weights;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{Tensor, TensorElementType};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use card::{Golden, ModelCard, SpecialIds};
pub use error::ModelError;
pub use signals::{Heads, HeadsReading, SignalProbability};
pub use tokenize::{Encoded, cut};

/// The three verdicts, in the order of the model's probability output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    pub const ALL: [Sentiment; 3] = [Sentiment::Negative, Sentiment::Neutral, Sentiment::Positive];

    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl std::fmt::Display for Sentiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Calibrated probabilities of the three labels; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Probabilities {
    pub negative: f32,
    pub neutral: f32,
    pub positive: f32,
}

impl Probabilities {
    pub fn as_array(&self) -> [f32; 3] {
        [self.negative, self.neutral, self.positive]
    }

    pub fn get(&self, label: Sentiment) -> f32 {
        self.as_array()[label as usize]
    }

    /// The most probable label and its probability.
    pub fn top(&self) -> (Sentiment, f32) {
        Sentiment::ALL.into_iter().map(|l| (l, self.get(l))).fold(
            (Sentiment::Neutral, f32::MIN),
            |best, cur| {
                if cur.1 > best.1 { cur } else { best }
            },
        )
    }
}

/// What the model says of one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub label: Sentiment,
    pub probabilities: Probabilities,
    /// Probability of `label`.
    pub confidence: f32,
    /// Unit-length sentence embedding.
    #[serde(skip)]
    pub embedding: Vec<f32>,
    /// Tokens fed to the model, `<s>` and `</s>` included.
    pub tokens: usize,
    /// The text was over `max_tokens` and lost pieces in its middle.
    pub truncated: bool,
}

/// How to load the model.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Folder with `model.json`, `model.onnx`, `tokenizer.json`.
    pub dir: PathBuf,
    /// ONNX Runtime intra-op threads per session; 0 lets ONNX Runtime use every core.
    pub intra_threads: usize,
    /// Sessions that can run at the same time (each holds its own buffers): the calls of one
    /// [`SentimentModel::classify`], and concurrent callers, share them out. See [`layout`].
    pub sessions: usize,
    /// Texts per inference call; inputs are grouped by length before batching.
    pub batch_size: usize,
    /// Check each file against the sha256 in `model.json` before loading.
    pub verify_checksums: bool,
    /// Most padded tokens in one inference call (a text longer than this still gets a call
    /// of its own): bounds the attention buffers, which grow with texts x tokens².
    pub call_tokens: usize,
    /// ONNX Runtime's CPU arena (and memory patterns): keeps the buffers of the largest call
    /// so far for the next ones (ONNX Runtime's default). Off, each call allocates what it
    /// needs and gives it back to malloc, which fragments: the peak was higher off in every
    /// bulk run measured (docs/benchmarks.md).
    pub cpu_arena: bool,
}

impl ModelOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            intra_threads: 0,
            sessions: 1,
            batch_size: 32,
            verify_checksums: true,
            call_tokens: CALL_TOKENS,
            cpu_arena: true,
        }
    }
}

/// How to spread `cores` over sessions and their intra-op threads, from what was asked
/// (0: choose): returns (threads per session, sessions). Nothing asked, one single-threaded
/// session per core: a comment of ~40 tokens is too small a product for two threads to
/// share (one text took as long on 1 thread as on 2, docs/benchmarks.md), while two
/// sessions run two calls at once.
pub fn layout(threads: usize, sessions: usize, cores: usize) -> (usize, usize) {
    let cores = cores.max(1);
    match (threads, sessions) {
        (0, 0) => (1, cores),
        (0, s) => ((cores / s).max(1), s),
        (t, 0) => (t, (cores / t).max(1)),
        (t, s) => (t, s),
    }
}

/// The predictions of one inference call.
type CallResult = Result<Vec<Prediction>, ModelError>;

/// The loaded model: a tokenizer and a pool of ONNX Runtime sessions, safe to share.
pub struct SentimentModel {
    card: ModelCard,
    tokenizer: pieces::PieceTokenizer,
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    batch_size: usize,
    call_tokens: usize,
    embedding_dim: usize,
    dir: PathBuf,
    heads: Option<Heads>,
    /// The int8 weights the sessions share: declared after `sessions`, so dropped after them
    /// (the sessions read its map).
    shared: Option<weights::SharedWeights>,
}

impl std::fmt::Debug for SentimentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentimentModel")
            .field("version", &self.card.version)
            .field("dir", &self.dir)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::FileMissing {
            path: path.to_owned(),
        },
        _ => ModelError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        },
    })
}

/// Checks every file `model.json` lists (the graph, its external weights, the tokenizer)
/// against its sha256, reading each in blocks rather than whole.
fn verify_files(dir: &Path, card: &ModelCard) -> Result<(), ModelError> {
    use std::io::Read;
    for (name, expected) in &card.files {
        let path = dir.join(name);
        let corrupt = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::FileMissing { path: path.clone() },
            _ => ModelError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            },
        };
        let mut file = std::fs::File::open(&path).map_err(corrupt)?;
        let mut hasher = Sha256::new();
        let mut block = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut block).map_err(corrupt)?;
            if n == 0 {
                break;
            }
            hasher.update(&block[..n]);
        }
        let actual = hex::encode(hasher.finalize());
        if &actual != expected {
            return Err(ModelError::ChecksumMismatch {
                path,
                expected: expected.clone(),
                actual,
            });
        }
    }
    for name in ["model.onnx", "tokenizer.json"] {
        if !card.files.contains_key(name) {
            return Err(ModelError::Corrupt {
                path: dir.join("model.json"),
                reason: format!("no checksum for {name}"),
            });
        }
    }
    Ok(())
}

/// ONNX Runtime's sessions over `onnx_path`, sharing their int8 weights when there are
/// several (returned with them, to be dropped after them).
fn build_sessions(
    options: &ModelOptions,
    onnx_path: &Path,
) -> Result<(Option<weights::SharedWeights>, Vec<Mutex<Session>>), ModelError> {
    let environment = runtime::ensure_loaded()?;
    let corrupt = |reason: String| ModelError::Corrupt {
        path: onnx_path.to_owned(),
        reason,
    };
    // Several sessions: their int8 weights and pre-packed buffers are held once.
    let shared = if options.sessions > 1 {
        weights::SharedWeights::load(onnx_path).map_err(corrupt)?
    } else {
        None
    };
    if let Some(shared) = &shared {
        tracing::debug!(
            tensors = shared.len(),
            "int8 weights shared by the sessions"
        );
    }
    let mut sessions = Vec::with_capacity(options.sessions.max(1));
    for _ in 0..options.sessions.max(1) {
        let cpu = ort::ep::CPU::default()
            .with_arena_allocator(options.cpu_arena)
            .build();
        let session = Session::builder(environment)
            .and_then(|b| Ok(b.with_execution_providers([cpu])?))
            .and_then(|b| Ok(b.with_memory_pattern(options.cpu_arena)?))
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::All)?))
            .and_then(|b| Ok(b.with_intra_threads(options.intra_threads)?))
            .and_then(|b| Ok(b.with_inter_threads(1)?))
            .and_then(|b| match &shared {
                Some(shared) => shared.apply(b),
                None => Ok(b),
            })
            .and_then(|mut b| b.commit_from_file(onnx_path))
            .map_err(|e| corrupt(e.to_string()))?;
        sessions.push(Mutex::new(session));
    }
    if let Some(shared) = &shared {
        shared.release_pages();
    }
    Ok((shared, sessions))
}

impl SentimentModel {
    pub fn load(options: &ModelOptions) -> Result<Self, ModelError> {
        let dir = &options.dir;
        let card_path = dir.join("model.json");
        let card: ModelCard =
            serde_json::from_slice(&read(&card_path)?).map_err(|e| ModelError::Corrupt {
                path: card_path.clone(),
                reason: e.to_string(),
            })?;
        let onnx_path = dir.join("model.onnx");
        let tok_path = dir.join("tokenizer.json");
        if !options.verify_checksums && !onnx_path.is_file() {
            return Err(ModelError::FileMissing { path: onnx_path });
        }
        // The checksums are computed on a second thread while this one reads the tokenizer,
        // loads ONNX Runtime and builds the sessions: a fifth of the start-up. Their errors
        // come first, as if they had run first: a damaged file is reported as such, whatever
        // the tokenizer or ONNX Runtime made of it. (The tokenizer stays on this thread:
        // built on the other, its allocations went to a second malloc arena, 3 MB more at
        // the peak.)
        let (verified, tokenizer, built) = std::thread::scope(|scope| {
            let verified = scope.spawn(|| {
                if options.verify_checksums {
                    verify_files(dir, &card)
                } else {
                    Ok(())
                }
            });
            let tokenizer = read(&tok_path).and_then(|bytes| {
                pieces::load(&bytes).map_err(|reason| ModelError::Corrupt {
                    path: tok_path.clone(),
                    reason,
                })
            });
            let built = tokenizer
                .as_ref()
                .ok()
                .map(|_| build_sessions(options, &onnx_path));
            let verified = verified.join().expect("the checksum thread does not panic");
            (verified, tokenizer, built)
        });
        verified?;
        let tokenizer = tokenizer?;
        let built = built.expect("sessions are built once the tokenizer is read");
        // bound in this order, dropped in the reverse: the sessions before the map they read
        let (shared, sessions) = built?;
        let embedding_dim =
            check_signature(&sessions[0].lock().expect("fresh mutex"), &onnx_path, &card)?;
        let heads_dir = dir.join("signals");
        let heads = if heads_dir.join("heads.json").is_file() {
            let heads = Heads::load(&heads_dir, &card.version)?;
            if heads.dim() != embedding_dim {
                return Err(ModelError::Corrupt {
                    path: heads_dir.join("heads.json"),
                    reason: format!("heads are not {embedding_dim} wide"),
                });
            }
            Some(heads)
        } else {
            None
        };
        Ok(Self {
            heads,
            card,
            tokenizer,
            sessions,
            next: AtomicUsize::new(0),
            batch_size: options.batch_size.max(1),
            call_tokens: options.call_tokens,
            embedding_dim,
            dir: dir.clone(),
            shared,
        })
    }

    /// The risk-signal and intent heads in `<dir>/signals`, when the model has them.
    pub fn heads(&self) -> Option<&Heads> {
        self.heads.as_ref()
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn version(&self) -> &str {
        &self.card.version
    }

    pub fn embedding_dim(&self) -> usize {
        self.embedding_dim
    }

    pub fn max_tokens(&self) -> usize {
        self.card.max_tokens
    }

    /// Token ids as the model sees them (for tests and diagnostics).
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Encoded>, ModelError> {
        tokenize::encode_all(
            &self.tokenizer,
            texts,
            &self.card.text_prefix,
            self.card.special_ids,
            self.card.max_tokens,
        )
    }

    /// Classifies texts in any number; results come back in input order. Texts are sorted
    /// by length and cut into inference calls of at most `batch_size` texts and
    /// `call_tokens` padded tokens (see [`buckets`]), each padded to its longest member only.
    pub fn classify<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Prediction>, ModelError> {
        let encoded = self.encode(texts)?;
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| encoded[i].ids.len());
        let lengths: Vec<usize> = order.iter().map(|&i| encoded[i].ids.len()).collect();
        let calls: Vec<&[usize]> = buckets(&lengths, self.batch_size, self.call_tokens)
            .into_iter()
            .map(|range| &order[range])
            .collect();
        let run = |session: &mut Session, group: &[usize]| {
            let batch: Vec<&Encoded> = group.iter().map(|&i| &encoded[i]).collect();
            self.run(session, &batch)
        };
        let mut held = self.acquire(calls.len())?;
        let results: Vec<CallResult> = if held.len() <= 1 {
            let session = &mut held[0];
            calls.iter().map(|group| run(session, group)).collect()
        } else {
            // one thread per session held, each taking the next call until none is left
            let next = AtomicUsize::new(0);
            let done: Vec<Vec<(usize, CallResult)>> = std::thread::scope(|scope| {
                let handles: Vec<_> = held
                    .iter_mut()
                    .map(|guard| {
                        let session: &mut Session = guard;
                        let (next, calls, run) = (&next, &calls, &run);
                        scope.spawn(move || {
                            let mut mine = Vec::new();
                            loop {
                                let k = next.fetch_add(1, Ordering::Relaxed);
                                let Some(group) = calls.get(k) else { break };
                                mine.push((k, run(session, group)));
                            }
                            mine
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("an inference thread panicked"))
                    .collect()
            });
            let mut results: Vec<Option<CallResult>> = (0..calls.len()).map(|_| None).collect();
            for (k, r) in done.into_iter().flatten() {
                results[k] = Some(r);
            }
            results
                .into_iter()
                .map(|r| r.expect("every call ran"))
                .collect()
        };
        let mut out: Vec<Option<Prediction>> = vec![None; encoded.len()];
        for (group, result) in calls.iter().zip(results) {
            for (&i, prediction) in group.iter().zip(result?) {
                out[i] = Some(prediction);
            }
        }
        Ok(out
            .into_iter()
            .map(|p| p.expect("every text is predicted"))
            .collect())
    }

    /// Sessions in the pool.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Int8 weight tensors the sessions share, and the MatMuls' pre-packed copies with them (0
    /// with one session, or a graph that keeps its weights inline).
    pub fn shared_weights(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.len())
    }

    /// Up to `wanted` of the pool's free sessions, or, when all are busy, the next in turn
    /// once it is free: a call holds its sessions to the end, so concurrent callers do not
    /// interleave their calls on the same session.
    fn acquire(&self, wanted: usize) -> Result<Vec<MutexGuard<'_, Session>>, ModelError> {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut held = Vec::new();
        for k in 0..n {
            if held.len() == wanted.max(1) {
                break;
            }
            if let Ok(session) = self.sessions[(start + k) % n].try_lock() {
                held.push(session);
            }
        }
        if held.is_empty() {
            held.push(
                self.sessions[start % n]
                    .lock()
                    .map_err(|_| ModelError::Inference("a session panicked earlier".into()))?,
            );
        }
        Ok(held)
    }

    /// Runs one padded batch through `session`.
    fn run(
        &self,
        session: &mut Session,
        batch: &[&Encoded],
    ) -> Result<Vec<Prediction>, ModelError> {
        let rows = batch.len();
        let width = batch.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        let pad = i64::from(self.card.special_ids.pad);
        let mut ids = vec![pad; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (r, e) in batch.iter().enumerate() {
            for (c, &id) in e.ids.iter().enumerate() {
                ids[r * width + c] = i64::from(id);
                mask[r * width + c] = 1;
            }
        }
        let shape = [rows as i64, width as i64];
        let ids = Tensor::from_array((shape, ids))?;
        let mask = Tensor::from_array((shape, mask))?;
        let outputs = session.run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])?;
        let (_, probs) = outputs["probabilities"].try_extract_tensor::<f32>()?;
        let (_, emb) = outputs["embedding"].try_extract_tensor::<f32>()?;
        let dim = self.embedding_dim;
        if probs.len() != rows * 3 || emb.len() != rows * dim {
            return Err(ModelError::Inference(format!(
                "outputs have {} probabilities and {} embedding values for {rows} texts",
                probs.len(),
                emb.len()
            )));
        }
        Ok(batch
            .iter()
            .enumerate()
            .map(|(r, e)| {
                let p = Probabilities {
                    negative: probs[r * 3],
                    neutral: probs[r * 3 + 1],
                    positive: probs[r * 3 + 2],
                };
                let (label, confidence) = p.top();
                Prediction {
                    label,
                    probabilities: p,
                    confidence,
                    embedding: emb[r * dim..(r + 1) * dim].to_vec(),
                    tokens: e.ids.len(),
                    truncated: e.truncated,
                }
            })
            .collect())
    }
}

/// What one inference call costs beyond its tokens, in tokens: measured on the served graph
/// (2 threads), a call of one 40-token text takes as long as 64 tokens inside a call of 32.
pub const CALL_COST_TOKENS: usize = 24;

/// Default of [`ModelOptions::call_tokens`]: one text of `max_tokens` (256), or 8 tweets of
/// 32 tokens. A session's arena keeps the buffers of its largest call, so this bounds the
/// peak: with two sessions, `vigie classify` on the long reviews peaked at 149 MB against
/// 206 MB with 1,024 and 257 MB with 2,048, with the same verdicts. Calls of 256 rows
/// already keep the int8 MatMuls busy: `vigie bench` at batch 32 ran as fast with two
/// sessions and within 3% with one (docs/benchmarks.md).
pub const CALL_TOKENS: usize = 256;

/// Cuts `lengths` (sorted ascending) into consecutive calls of at most `batch_size` texts
/// and `call_tokens` padded tokens (one text always fits) that cost the least: each call
/// computes every text at the call's longest length, plus [`CALL_COST_TOKENS`]. So a call
/// of 32 comments of mixed lengths becomes a few calls of similar lengths instead of 32
/// texts padded to the longest one.
pub fn buckets(
    lengths: &[usize],
    batch_size: usize,
    call_tokens: usize,
) -> Vec<std::ops::Range<usize>> {
    let n = lengths.len();
    let batch_size = batch_size.max(1);
    // best[i]: least cost of the first i texts; from[i]: where the last call of it starts
    let mut best = vec![0usize; n + 1];
    let mut from = vec![0usize; n + 1];
    for i in 1..=n {
        best[i] = usize::MAX;
        for j in (i.saturating_sub(batch_size)..i).rev() {
            if j + 1 < i && (i - j) * lengths[i - 1] > call_tokens {
                break; // longer calls from further back are over the limit too
            }
            let cost = best[j] + CALL_COST_TOKENS + (i - j) * lengths[i - 1];
            if cost <= best[i] {
                // `<=`: a tie goes to the earliest start
                best[i] = cost;
                from[i] = j;
            }
        }
    }
    let mut out = Vec::new();
    let mut end = n;
    while end > 0 {
        out.push(from[end]..end);
        end = from[end];
    }
    out.reverse();
    out
}

/// Inputs `input_ids`, `attention_mask` (int64, [batch, tokens]); outputs `probabilities`
/// ([batch, 3]) and `embedding` ([batch, dim]). Returns dim.
fn check_signature(session: &Session, path: &Path, card: &ModelCard) -> Result<usize, ModelError> {
    let fail = |reason: String| ModelError::Signature {
        path: path.to_owned(),
        reason,
    };
    let mut inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    inputs.sort_unstable();
    if inputs != ["attention_mask", "input_ids"] {
        return Err(fail(format!(
            "inputs are {inputs:?}, expected input_ids and attention_mask"
        )));
    }
    for input in session.inputs() {
        if input.dtype().tensor_type() != Some(TensorElementType::Int64) {
            return Err(fail(format!(
                "input {} is {:?}, expected int64",
                input.name(),
                input.dtype()
            )));
        }
    }
    let output = |name: &str| {
        session
            .outputs()
            .iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| fail(format!("no output named {name}")))
    };
    let last_dim = |name: &str| -> Result<i64, ModelError> {
        let o = output(name)?;
        if o.dtype().tensor_type() != Some(TensorElementType::Float32) {
            return Err(fail(format!(
                "output {name} is {:?}, expected float32",
                o.dtype()
            )));
        }
        let shape = o
            .dtype()
            .tensor_shape()
            .ok_or_else(|| fail(format!("output {name} is not a tensor")))?;
        if shape.len() != 2 {
            return Err(fail(format!(
                "output {name} has rank {}, expected 2",
                shape.len()
            )));
        }
        Ok(shape[1])
    };
    if last_dim("probabilities")? != 3 || card.labels.len() != 3 {
        return Err(fail(
            "probabilities must have 3 columns: negative, neutral, positive".into(),
        ));
    }
    let dim = last_dim("embedding")?;
    if dim <= 0 {
        return Err(fail("embedding has no fixed width".into()));
    }
    Ok(dim as usize)
}

#[cfg(test)]
mod tests {
    use super::{buckets, layout};

    #[test]
    fn layout_gives_each_core_a_single_threaded_session_unless_told() {
        assert_eq!(layout(0, 0, 2), (1, 2));
        assert_eq!(layout(0, 0, 1), (1, 1));
        assert_eq!(
            layout(2, 0, 2),
            (2, 1),
            "threads asked: the sessions that fit"
        );
        assert_eq!(layout(4, 0, 2), (4, 1), "at least one session");
        assert_eq!(
            layout(0, 1, 4),
            (4, 1),
            "sessions asked: the cores shared out"
        );
        assert_eq!(layout(0, 8, 2), (1, 8));
        assert_eq!(layout(3, 2, 2), (3, 2), "both asked: as asked");
        assert_eq!(layout(0, 0, 0), (1, 1));
    }

    const NO_LIMIT: usize = usize::MAX;

    fn sizes(lengths: &[usize], batch: usize) -> Vec<usize> {
        sizes_within(lengths, batch, NO_LIMIT)
    }

    fn sizes_within(lengths: &[usize], batch: usize, call_tokens: usize) -> Vec<usize> {
        let calls = buckets(lengths, batch, call_tokens);
        let mut next = 0;
        for c in &calls {
            assert_eq!(c.start, next, "calls are consecutive");
            assert!(!c.is_empty() && c.len() <= batch.max(1));
            assert!(c.len() == 1 || c.len() * lengths[c.end - 1] <= call_tokens);
            next = c.end;
        }
        assert_eq!(next, lengths.len(), "every text is in a call");
        calls.iter().map(|c| c.len()).collect()
    }

    #[test]
    fn similar_lengths_share_one_call() {
        assert_eq!(sizes(&[40; 32], 32), vec![32]);
        assert_eq!(sizes(&[38, 39, 40, 41, 42, 44], 32), vec![6]);
    }

    #[test]
    fn short_texts_are_not_padded_to_long_ones() {
        let mut lengths = vec![12; 20];
        lengths.extend([250; 12]);
        assert_eq!(sizes(&lengths, 32), vec![20, 12]);
    }

    #[test]
    fn calls_never_exceed_the_batch_size() {
        assert_eq!(sizes(&[20; 70], 32).iter().sum::<usize>(), 70);
        assert!(sizes(&[20; 70], 32).iter().all(|&n| n <= 32));
        assert_eq!(sizes(&[7, 8, 9], 1), vec![1, 1, 1]);
        assert_eq!(sizes(&[7, 8, 9], 0), vec![1, 1, 1]);
        assert!(buckets(&[], 32, NO_LIMIT).is_empty());
    }

    #[test]
    fn long_texts_share_calls_within_the_token_limit() {
        assert_eq!(sizes_within(&[256; 32], 32, 2048), vec![8, 8, 8, 8]);
        assert_eq!(sizes_within(&[40; 32], 32, 2048), vec![32]);
        // a text over the limit still gets its own call
        assert_eq!(sizes_within(&[300, 300], 32, 256), vec![1, 1]);
        let mut mixed = vec![30; 40];
        mixed.extend([200; 20]);
        let calls = sizes_within(&mixed, 32, 2048);
        assert_eq!(calls.iter().sum::<usize>(), 60);
    }

    #[test]
    fn a_spread_of_lengths_costs_less_than_one_padded_call() {
        let lengths: Vec<usize> = (0..32).map(|i| 10 + i * i / 4).collect();
        let calls = buckets(&lengths, 32, NO_LIMIT);
        assert!(calls.len() > 1);
        let cost: usize = calls
            .iter()
            .map(|c| super::CALL_COST_TOKENS + c.len() * lengths[c.end - 1])
            .sum();
        assert!(cost < super::CALL_COST_TOKENS + 32 * lengths[31]);
    }
}
