//! The model's tokenizer, with its sentencepiece pieces in a few megabytes.
//!
//! `tokenizers`' own `Unigram` keeps its pieces in a byte trie with a hash map per node:
//! about 50 MB for the served 60,000 pieces, a third of the process. [`Pieces`] holds the
//! same pieces in a finite-state transducer (`fst`, ids as outputs, under 1 MB) and runs the
//! same best-path search as `Unigram::encode_optimized` (sentencepiece's), so a text gets
//! the same ids: the tests compare both on every evaluation text. Normalizer, pre-tokenizer,
//! added tokens and the rest of `tokenizer.json` are still read and run by `tokenizers`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fst::raw::Output;
use fst::{Map, MapBuilder};
use serde::Deserialize;
use tokenizers::models::unigram::UnigramTrainer;
use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, Token, TokenizerImpl,
};

/// The tokenizer the model reads its input with.
pub type PieceTokenizer = TokenizerImpl<
    Pieces,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// What a character no piece covers scores below the lowest piece (`tokenizers`' and
/// sentencepiece's `kUnkPenalty`).
const UNK_PENALTY: f64 = 10.0;

/// A sentencepiece unigram vocabulary: pieces, their log-probabilities, the unknown piece.
pub struct Pieces {
    /// piece bytes -> id (for a piece listed twice, the later id, as `tokenizers` does)
    index: Map<Vec<u8>>,
    scores: Vec<f64>,
    /// every piece in id order, one after the other; piece `i` ends at `ends[i]`
    text: String,
    ends: Vec<usize>,
    unk_id: u32,
    unk_score: f64,
}

impl Pieces {
    /// `vocab[id] = (piece, score)`; `unk_id` is the piece unknown characters become.
    pub fn new(vocab: &[(String, f64)], unk_id: usize) -> Result<Self, String> {
        if unk_id >= vocab.len() {
            return Err(format!(
                "unk_id {unk_id} is outside the {} pieces",
                vocab.len()
            ));
        }
        let mut order: Vec<usize> = (0..vocab.len()).collect();
        // by bytes, then by id; the last of equal pieces wins
        order.sort_by(|&a, &b| {
            vocab[a]
                .0
                .as_bytes()
                .cmp(vocab[b].0.as_bytes())
                .then(a.cmp(&b))
        });
        let mut builder = MapBuilder::memory();
        for (k, &id) in order.iter().enumerate() {
            let piece = vocab[id].0.as_bytes();
            if order
                .get(k + 1)
                .is_some_and(|&next| vocab[next].0.as_bytes() == piece)
            {
                continue;
            }
            builder
                .insert(piece, id as u64)
                .map_err(|e| format!("piece {id}: {e}"))?;
        }
        let index = builder.into_map();
        let min_score = vocab.iter().map(|(_, s)| *s).fold(f64::INFINITY, f64::min);
        let mut text = String::with_capacity(vocab.iter().map(|(p, _)| p.len()).sum());
        let mut ends = Vec::with_capacity(vocab.len());
        for (piece, _) in vocab {
            text.push_str(piece);
            ends.push(text.len());
        }
        Ok(Self {
            index,
            scores: vocab.iter().map(|(_, s)| *s).collect(),
            text,
            ends,
            unk_id: unk_id as u32,
            unk_score: min_score - UNK_PENALTY,
        })
    }

    fn piece(&self, id: u32) -> Option<&str> {
        let id = id as usize;
        let end = *self.ends.get(id)?;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        Some(&self.text[start..end])
    }

    fn id(&self, piece: &str) -> Option<u32> {
        self.index.get(piece).map(|id| id as u32)
    }

    /// The best segmentation of `word`: (start, end, id) spans covering it, in order.
    fn segment(&self, word: &str) -> Vec<(usize, usize, u32)> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f64,
            start: Option<usize>,
        }
        let bytes = word.as_bytes();
        let mut best = vec![
            Best {
                id: 0,
                score: 0.0,
                start: None,
            };
            bytes.len() + 1
        ];
        let fst = self.index.as_fst();
        let offer = |best: &mut [Best], start: usize, end: usize, id: u32, score: f64| {
            let node = &mut best[end];
            if node.start.is_none() || score > node.score {
                *node = Best {
                    id,
                    score,
                    start: Some(start),
                };
            }
        };
        let mut start = 0;
        for ch in word.chars() {
            let char_len = ch.len_utf8();
            let here = best[start].score;
            let mut single = false;
            let mut node = fst.root();
            let mut out = Output::zero();
            for (k, &b) in bytes[start..].iter().enumerate() {
                let Some(i) = node.find_input(b) else { break };
                let t = node.transition(i);
                out = out.cat(t.out);
                node = fst.node(t.addr);
                if node.is_final() {
                    let id = out.cat(node.final_output()).value() as u32;
                    offer(
                        &mut best,
                        start,
                        start + k + 1,
                        id,
                        here + self.scores[id as usize],
                    );
                    single |= k + 1 == char_len;
                }
            }
            if !single {
                offer(
                    &mut best,
                    start,
                    start + char_len,
                    self.unk_id,
                    here + self.unk_score,
                );
            }
            start += char_len;
        }
        let mut spans = Vec::new();
        let mut end = bytes.len();
        while end > 0 {
            let node = best[end];
            let start = node.start.expect("every character boundary is reached");
            spans.push((start, end, node.id));
            end = start;
        }
        spans.reverse();
        spans
    }
}

impl Model for Pieces {
    type Trainer = UnigramTrainer;

    fn tokenize(&self, word: &str) -> tokenizers::Result<Vec<Token>> {
        let mut tokens: Vec<Token> = Vec::new();
        let mut unknown: Option<(usize, usize)> = None;
        let flush = |tokens: &mut Vec<Token>, span: (usize, usize)| {
            // consecutive unknown characters become one token, its id looked up again
            let text = &word[span.0..span.1];
            let id = self.id(text).unwrap_or(self.unk_id);
            tokens.push(Token::new(id, text.to_owned(), span));
        };
        for (start, end, id) in self.segment(word) {
            if id == self.unk_id {
                unknown = Some(unknown.map_or((start, end), |(s, _)| (s, end)));
                continue;
            }
            if let Some(span) = unknown.take() {
                flush(&mut tokens, span);
            }
            tokens.push(Token::new(id, word[start..end].to_owned(), (start, end)));
        }
        if let Some(span) = unknown {
            flush(&mut tokens, span);
        }
        Ok(tokens)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.piece(id).map(str::to_owned)
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        (0..self.ends.len() as u32)
            .filter_map(|id| Some((self.piece(id)?.to_owned(), id)))
            .collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.ends.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err("vigie's pieces are read from tokenizer.json, not saved".into())
    }

    fn get_trainer(&self) -> UnigramTrainer {
        UnigramTrainer::default()
    }
}

#[derive(Deserialize)]
struct TokenizerFile {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    decoder: Option<DecoderWrapper>,
    model: UnigramFile,
}

#[derive(Deserialize)]
struct UnigramFile {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<usize>,
    vocab: Vec<(String, f64)>,
    #[serde(default)]
    byte_fallback: bool,
}

/// Reads a `tokenizer.json` whose model is a sentencepiece unigram with an unknown piece and
/// no byte fallback (XLM-R's, as the recipe writes it).
pub fn load(json: &[u8]) -> Result<PieceTokenizer, String> {
    let file: TokenizerFile = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let model = file.model;
    if model.kind != "Unigram" {
        return Err(format!(
            "model type {:?}: vigie reads a Unigram model",
            model.kind
        ));
    }
    if model.byte_fallback {
        return Err("byte_fallback: vigie reads a Unigram model without it".into());
    }
    let unk_id = model.unk_id.ok_or("a Unigram model without unk_id")?;
    let mut tokenizer = TokenizerImpl::new(Pieces::new(&model.vocab, unk_id)?);
    tokenizer
        .with_normalizer(file.normalizer)
        .with_pre_tokenizer(file.pre_tokenizer)
        .with_post_processor(file.post_processor)
        .with_decoder(file.decoder);
    tokenizer.add_tokens(&file.added_tokens);
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(pieces: &[(&str, f64)]) -> Vec<(String, f64)> {
        pieces.iter().map(|(p, s)| (p.to_string(), *s)).collect()
    }

    fn ids(p: &Pieces, word: &str) -> Vec<(u32, String, (usize, usize))> {
        p.tokenize(word)
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.value, t.offsets))
            .collect()
    }

    #[test]
    fn the_best_path_wins_over_the_longest_piece() {
        // "abc" scores -10; "ab" + "c" scores -1 - 1
        let p = Pieces::new(
            &vocab(&[
                ("<unk>", 0.0),
                ("a", -3.0),
                ("ab", -1.0),
                ("c", -1.0),
                ("abc", -10.0),
                ("b", -3.0),
            ]),
            0,
        )
        .unwrap();
        assert_eq!(
            ids(&p, "abc"),
            vec![(2, "ab".into(), (0, 2)), (3, "c".into(), (2, 3))]
        );
    }

    #[test]
    fn unknown_characters_in_a_row_are_one_unknown_token() {
        let p = Pieces::new(&vocab(&[("<unk>", 0.0), ("a", -1.0), ("é", -1.0)]), 0).unwrap();
        assert_eq!(
            ids(&p, "a日本é語"),
            vec![
                (1, "a".into(), (0, 1)),
                (0, "日本".into(), (1, 7)),
                (2, "é".into(), (7, 9)),
                (0, "語".into(), (9, 12))
            ]
        );
    }

    #[test]
    fn a_piece_listed_twice_is_found_under_its_later_id() {
        let p = Pieces::new(&vocab(&[("<unk>", 0.0), ("x", -1.0), ("x", -2.0)]), 0).unwrap();
        assert_eq!(p.token_to_id("x"), Some(2));
        assert_eq!(p.id_to_token(1).as_deref(), Some("x"));
        assert_eq!(p.get_vocab_size(), 3);
    }

    #[test]
    fn an_unk_id_outside_the_vocabulary_is_refused() {
        assert!(Pieces::new(&vocab(&[("a", -1.0)]), 1).is_err());
    }
}
