//! The language of a comment (which is its reply's language), by `whatlang` over the
//! languages a brand page sees most. Short comments are often unreliable: then the
//! brand's own languages decide between themselves.

use whatlang::{Detector, Lang};

const LANGS: [(Lang, &str); 7] = [
    (Lang::Fra, "fr"),
    (Lang::Eng, "en"),
    (Lang::Spa, "es"),
    (Lang::Deu, "de"),
    (Lang::Ita, "it"),
    (Lang::Por, "pt"),
    (Lang::Nld, "nl"),
];

/// Under this many words, an unreliable guess yields to the brand's own languages.
const SHORT_WORDS: usize = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    /// ISO 639-1.
    pub code: String,
    pub reliable: bool,
}

fn code(lang: Lang) -> Option<&'static str> {
    LANGS.iter().find(|(l, _)| *l == lang).map(|(_, c)| *c)
}

/// Function words, which short comments always have and trigram statistics weigh poorly.
const STOPWORDS: [(&str, &[&str]); 7] = [
    (
        "fr",
        &[
            "le", "la", "les", "de", "des", "du", "et", "est", "pas", "je", "vous", "nous", "ma",
            "mon", "mes", "une", "un", "que", "qui", "pour", "avec", "sur", "ce", "cette", "c'est",
            "j'ai", "n'est", "toujours", "très", "merci", "votre", "vos", "ne", "au", "aux", "il",
            "elle", "on", "mais", "ou", "déjà", "rien", "bonjour",
        ],
    ),
    (
        "en",
        &[
            "the", "and", "is", "are", "my", "you", "your", "i", "it", "to", "of", "in", "for",
            "on", "with", "this", "that", "was", "not", "have", "has", "still", "can", "what",
            "why", "please", "thanks", "hi", "hello", "me", "we", "they", "be", "do", "don't",
            "i'm", "it's", "just", "no", "at", "from", "after",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "que", "por", "para", "con", "una", "mi", "pero", "está", "muy",
            "gracias", "hola", "todavía", "pedido", "del", "es", "y", "no", "ha", "después",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "und", "ist", "nicht", "ich", "mein", "meine", "mit", "für",
            "auf", "noch", "immer", "nach", "ein", "eine", "danke", "hallo", "sie", "wir", "es",
            "bitte",
        ],
    ),
    (
        "it",
        &[
            "il", "lo", "gli", "che", "per", "con", "una", "mio", "mia", "ma", "è", "sono",
            "grazie", "ciao", "ancora", "non", "della", "del",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "que", "por", "para", "com", "uma", "meu", "minha", "mas", "está", "não",
            "obrigado", "olá", "ainda", "pedido", "do", "da", "é",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "en", "is", "niet", "ik", "mijn", "met", "voor", "op", "nog",
            "steeds", "na", "bedankt", "hallo", "we", "jullie",
        ],
    ),
];

/// The language whose function words the text uses clearly most, if one does.
fn by_stopwords(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase().replace('’', "'");
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphabetic() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let mut scores: Vec<(usize, &str)> = STOPWORDS
        .iter()
        .map(|(code, list)| (words.iter().filter(|w| list.contains(w)).count(), *code))
        .collect();
    scores.sort_by_key(|s| std::cmp::Reverse(s.0));
    (scores[0].0 >= 2 && scores[0].0 >= 2 * scores[1].0).then_some(scores[0].1)
}

/// The text's language; `None` when there is nothing to read (digits, emoji, "??").
/// `served` (ISO 639-1) decides a short or unreliable text among themselves.
pub fn detect(text: &str, served: &[String]) -> Option<Detected> {
    if let Some(c) = by_stopwords(text) {
        return Some(Detected {
            code: c.to_owned(),
            reliable: true,
        });
    }
    let all = Detector::with_allowlist(LANGS.iter().map(|(l, _)| *l).collect());
    let info = all.detect(text)?;
    let words = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    if info.is_reliable() || words >= SHORT_WORDS {
        return code(info.lang()).map(|c| Detected {
            code: c.to_owned(),
            reliable: info.is_reliable(),
        });
    }
    let own: Vec<Lang> = LANGS
        .iter()
        .filter(|(_, c)| served.iter().any(|s| s == c))
        .map(|(l, _)| *l)
        .collect();
    let guess = match own.len() {
        0 => info.lang(),
        1 => own[0],
        _ => Detector::with_allowlist(own)
            .detect_lang(text)
            .unwrap_or(info.lang()),
    };
    code(guess).map(|c| Detected {
        code: c.to_owned(),
        reliable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn french_english_and_others_are_told_apart() {
        let fr_en = served(&["fr", "en"]);
        let d = |t| detect(t, &fr_en).map(|d| d.code);
        assert_eq!(
            d("Bonjour, ma commande n'est toujours pas arrivée depuis dix jours.").as_deref(),
            Some("fr")
        );
        assert_eq!(
            d("Hi, my order still hasn't arrived after ten days, what is going on?").as_deref(),
            Some("en")
        );
        assert_eq!(
            d("Hola, mi pedido todavía no ha llegado después de diez días.").as_deref(),
            Some("es")
        );
        assert_eq!(
            d("Hallo, meine Bestellung ist nach zehn Tagen immer noch nicht angekommen.")
                .as_deref(),
            Some("de")
        );
        assert_eq!(detect("1234 !!", &fr_en), None);
    }

    #[test]
    fn a_short_comment_is_read_among_the_brand_languages() {
        let d = detect("merci", &served(&["fr"])).unwrap();
        assert_eq!(d.code, "fr");
        assert!(!d.reliable);
    }
}

#[cfg(test)]
mod accuracy {
    /// On the labelled French and English comments of model/signals/data (2,453, many of
    /// a few words), for a brand serving both: the share detected right, short and long
    /// (measured: 37 of 44 up to 8 words, 2,403 of 2,409 longer).
    #[test]
    fn reads_the_language_of_labelled_comments() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model/signals/data");
        let served = vec!["fr".to_string(), "en".to_string()];
        let (mut short, mut short_ok, mut long, mut long_ok) = (0, 0, 0, 0);
        for split in ["train", "heldout"] {
            for entry in std::fs::read_dir(root.join(split)).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let (t, lang) = (v["text"].as_str().unwrap(), v["lang"].as_str().unwrap());
                    let ok = super::detect(t, &served).is_some_and(|d| d.code == lang);
                    if t.split_whitespace().count() <= 8 {
                        short += 1;
                        short_ok += usize::from(ok);
                    } else {
                        long += 1;
                        long_ok += usize::from(ok);
                    }
                }
            }
        }
        let (s, l) = (short_ok as f64 / short as f64, long_ok as f64 / long as f64);
        eprintln!(
            "language: {short_ok}/{short} right up to 8 words ({s:.3}), {long_ok}/{long} longer ({l:.3})"
        );
        assert!(s >= 0.8 && l >= 0.97, "short {s:.3}, long {l:.3}");
    }
}
