//! Text to model input, exactly as the recipe does it (model/recipe/vigie_recipe/encode.py).

use tokenizers::Tokenizer;

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
    tokenizer: &Tokenizer,
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
    use super::cut;

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
}
