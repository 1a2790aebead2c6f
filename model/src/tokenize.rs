//! Text to model input, exactly as the recipe does it (model/recipe/vigie_recipe/encode.py).

use crate::pieces::PieceTokenizer;
use crate::{ModelError, card::SpecialIds};

/// One text ready for the model: `<s> pieces("query: " + text) </s>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// Pieces the text had before truncation (prefix included, specials excluded).
    pub pieces: usize,
    pub truncated: bool,
}

/// Keeps the first and last pieces when a text is over `max_tokens` (specials included):
/// the head says what a comment is about, the tail often gives the verdict.
pub fn cut(pieces: &[u32], max_tokens: usize) -> (Vec<u32>, bool) {
    let room = max_tokens.saturating_sub(2);
    if pieces.len() <= room {
        return (pieces.to_vec(), false);
    }
    let head = room.div_ceil(2);
    let tail = room - head;
    let mut out = Vec::with_capacity(room);
    out.extend_from_slice(&pieces[..head]);
    out.extend_from_slice(&pieces[pieces.len() - tail..]);
    (out, true)
}

pub(crate) fn encode_all<S: AsRef<str>>(
    tokenizer: &PieceTokenizer,
    texts: &[S],
    prefix: &str,
    special: SpecialIds,
    max_tokens: usize,
) -> Result<Vec<Encoded>, ModelError> {
    let mut inputs = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let text = text.as_ref();
        if text.trim().is_empty() {
            return Err(ModelError::EmptyText { index });
        }
        inputs.push(format!("{prefix}{text}"));
    }
    // One by one on the calling thread: tokenizing is under 1% of the time, and a parallel
    // pool would spin on the cores ONNX Runtime is about to use.
    let encodings = inputs
        .into_iter()
        .map(|t| tokenizer.encode(t, false))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ModelError::Tokenize(e.to_string()))?;
    Ok(encodings
        .iter()
        .map(|enc| {
            let pieces = enc.get_ids();
            let (kept, truncated) = cut(pieces, max_tokens);
            let mut ids = Vec::with_capacity(kept.len() + 2);
            ids.push(special.bos);
            ids.extend(kept);
            ids.push(special.eos);
            Encoded {
                ids,
                pieces: pieces.len(),
                truncated,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokenizers::Tokenizer;

    use super::{cut, encode_all};
    use crate::card::SpecialIds;
    use crate::pieces::PieceTokenizer;

    #[test]
    fn short_sequences_are_kept_whole() {
        assert_eq!(cut(&[1, 2, 3], 5), (vec![1, 2, 3], false));
    }

    #[test]
    fn long_sequences_keep_head_and_tail() {
        let pieces: Vec<u32> = (0..10).collect();
        // 7 tokens with specials: 5 pieces, 3 from the head and 2 from the tail.
        assert_eq!(cut(&pieces, 7), (vec![0, 1, 2, 8, 9], true));
        assert_eq!(cut(&pieces, 8), (vec![0, 1, 2, 7, 8, 9], true));
    }

    /// Modest by default so the suite stays quick in debug builds; `PROPTEST_CASES`
    /// (e.g. 10000) runs longer.
    fn config() -> ProptestConfig {
        let mut config = ProptestConfig::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = 256;
        }
        config
    }

    const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tiny/tokenizer.json");

    fn tiny_tokenizer() -> &'static PieceTokenizer {
        static TOKENIZER: std::sync::OnceLock<PieceTokenizer> = std::sync::OnceLock::new();
        TOKENIZER.get_or_init(|| {
            crate::pieces::load(&std::fs::read(TINY).unwrap()).expect("the tiny model's tokenizer")
        })
    }

    /// `tokenizers`' own reading of the same file, the reference `pieces` must match.
    fn tiny_reference() -> &'static Tokenizer {
        static TOKENIZER: std::sync::OnceLock<Tokenizer> = std::sync::OnceLock::new();
        TOKENIZER.get_or_init(|| Tokenizer::from_file(TINY).expect("the tiny model's tokenizer"))
    }

    const SPECIAL: SpecialIds = SpecialIds {
        bos: 0,
        pad: 1,
        eos: 2,
    };

    proptest! {
        #![proptest_config(config())]

        /// Within the limit, the first half (rounded up) of the room and the last half,
        /// in order, and nothing else; whole when it fits.
        #[test]
        fn cut_keeps_head_and_tail_within_the_limit(
            pieces in prop::collection::vec(any::<u32>(), 0..600),
            max_tokens in 0usize..300,
        ) {
            let (kept, truncated) = cut(&pieces, max_tokens);
            let room = max_tokens.saturating_sub(2);
            prop_assert!(kept.len() <= room);
            prop_assert_eq!(truncated, pieces.len() > room);
            if truncated {
                prop_assert_eq!(kept.len(), room);
                let head = room.div_ceil(2);
                let tail = room - head;
                prop_assert!(head - tail <= 1);
                prop_assert_eq!(&kept[..head], &pieces[..head]);
                prop_assert_eq!(&kept[head..], &pieces[pieces.len() - tail..]);
            } else {
                prop_assert_eq!(kept, pieces);
            }
        }

        /// `pieces` reads a text as `tokenizers` does: the same ids and offsets, whatever the
        /// script, spacing, unknown characters or literal special tokens.
        #[test]
        fn pieces_match_the_reference_tokenizer(
            parts in prop::collection::vec(prop_oneof![
                "\\PC{0,40}",
                "[a-zé ]{0,30}",
                Just("<s>".to_string()),
                Just("</s><mask>".to_string()),
                "[日本語한국어👍🏽\u{300}\t\n ]{1,6}",
            ], 0..6),
        ) {
            let text: String = parts.concat();
            let ours = tiny_tokenizer().encode(text.as_str(), false).unwrap();
            let reference = tiny_reference().encode(text.as_str(), false).unwrap();
            prop_assert_eq!(ours.get_ids(), reference.get_ids());
            prop_assert_eq!(ours.get_offsets(), reference.get_offsets());
            prop_assert_eq!(ours.get_tokens(), reference.get_tokens());
        }

        /// Any text becomes `<s>`, its first and last pieces, `</s>`: never over the
        /// model's limit, and whole whenever it fits.
        #[test]
        fn encoded_texts_fit_the_model(
            texts in prop::collection::vec("\\PC{0,300}[a-zA-Z0-9]", 1..4),
            max_tokens in 3usize..64,
        ) {
            let tokenizer = tiny_tokenizer();
            let encoded = encode_all(tokenizer, &texts, "query: ", SPECIAL, max_tokens).unwrap();
            prop_assert_eq!(encoded.len(), texts.len());
            for (text, e) in texts.iter().zip(&encoded) {
                let full = tiny_reference().encode(format!("query: {text}"), false).unwrap();
                let pieces = full.get_ids();
                prop_assert_eq!(e.pieces, pieces.len());
                prop_assert!(e.ids.len() <= max_tokens, "{} ids", e.ids.len());
                prop_assert_eq!(e.ids[0], SPECIAL.bos);
                prop_assert_eq!(*e.ids.last().unwrap(), SPECIAL.eos);
                let middle = &e.ids[1..e.ids.len() - 1];
                prop_assert_eq!(e.truncated, pieces.len() + 2 > max_tokens);
                let head = middle.len().div_ceil(2);
                prop_assert_eq!(&middle[..head], &pieces[..head]);
                prop_assert_eq!(&middle[head..], &pieces[pieces.len() - (middle.len() - head)..]);
                if !e.truncated {
                    prop_assert_eq!(middle, pieces);
                }
            }
        }
    }
}
