//! The checks a draft passes before it is stored as a suggestion: the ones a community
//! manager would run in their head before publishing. Each says why it failed.

use std::sync::LazyLock;

use regex::Regex;

use crate::content::{BrandContent, EnglishRegister, FrenchAddress, Topic};
use crate::drafts::CheckOutcome;

/// Spelling, whatever implements it (Hunspell dictionaries in the draft function).
pub trait Speller: Send + Sync {
    /// The words of `words` unknown in `lang`; `None` when there is no dictionary for it.
    fn misspelled(&self, lang: &str, words: &[&str]) -> Option<Vec<String>>;
}

/// A draft ready to check, with what it was made from.
pub struct Draft<'a> {
    pub text: &'a str,
    pub lang: &'a str,
    /// Platform name for the length limit (facebook, instagram, x, ..., generic).
    pub platform: &'a str,
    /// Texts of the approved facts the draft states verbatim.
    pub facts: &'a [&'a str],
    /// The author's display name: only the first name may appear.
    pub author_name: Option<&'a str>,
    /// The comment, whose personal data must not be echoed.
    pub comment: &'a str,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid pattern")
}

/// A pattern built from brand content (banned words, preferred words, names), compiled
/// once per process: drafting checks the same few dozen patterns on every comment.
pub fn cached(pattern: &str) -> std::sync::Arc<Regex> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<Regex>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() > 10_000 {
        cache.clear(); // names of authors come and go: bounded
    }
    Arc::clone(
        cache
            .entry(pattern.to_owned())
            .or_insert_with(|| Arc::new(Regex::new(pattern).expect("escaped pattern"))),
    )
}

static URL: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\b(?:https?://|www\.)[^\s)»\]]+"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\b[\w.+-]+@[\w-]+\.[\w.-]+\b"));
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:\+\d{1,3}[\s.-]?)?(?:\(?\d{1,4}\)?[\s.-]?){3,6}\d{2,4}"));
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)\b[A-Z]{2}\d{2}(?:[\s-]?[A-Z0-9]{4}){3,7}(?:[\s-]?[A-Z0-9]{1,4})?\b")
});
static STREET: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|allée|impasse|chemin|place|quai|route|street|st\.|road|rd\.|lane|drive|avenue)\b",
    )
});
static WORD: LazyLock<Regex> = LazyLock::new(|| re(r"[\p{L}][\p{L}'’-]*[\p{L}]|[\p{L}]"));

fn digits(s: &str) -> usize {
    s.chars().filter(char::is_ascii_digit).count()
}

/// Characters as the platform counts them: X weighs characters outside Latin and general
/// punctuation ranges (CJK, emoji) twice.
pub fn weighted_len(text: &str, platform: &str) -> usize {
    if platform != "x" {
        return text.chars().count();
    }
    text.chars()
        .map(|c| {
            let u = c as u32;
            if u <= 0x10FF
                || (0x2000..=0x200D).contains(&u)
                || (0x2010..=0x201F).contains(&u)
                || (0x2032..=0x2037).contains(&u)
            {
                1
            } else {
                2
            }
        })
        .sum()
}

pub fn is_emoji(c: char) -> bool {
    let u = c as u32;
    (0x1F000..=0x1FAFF).contains(&u)
        || (0x2600..=0x27BF).contains(&u)
        || (0x2B00..=0x2BFF).contains(&u)
}

/// Words that address the reader in the other form, for a French reply.
fn wrong_address(text: &str, address: FrenchAddress) -> Option<String> {
    static TU: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)(?:^|[^\p{L}'’-])(tu|toi|ton|ta|tes|t'|t’|n'hésite pas|n’hésite pas|écris-nous|dis-nous|contacte-nous|envoie-nous)(?:$|[^\p{L}-])",
        )
    });
    static VOUS: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)(?:^|[^\p{L}'’-])(vous|votre|vos|n'hésitez pas|n’hésitez pas|écrivez-nous|dites-nous|contactez-nous|envoyez-nous)(?:$|[^\p{L}-])",
        )
    });
    let pattern = match address {
        FrenchAddress::Vous => &*TU,
        FrenchAddress::Tu => &*VOUS,
    };
    pattern.captures(text).map(|c| c[1].to_lowercase())
}

fn contraction(text: &str) -> Option<String> {
    static C: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)\b\p{L}+(?:n['’]t|['’](?:re|ll|ve|m|d))\b"));
    C.find(text).map(|m| m.as_str().to_owned())
}

/// Words that state a topic a brand never promises publicly, per language.
fn promise_patterns(topic: Topic) -> &'static [&'static str] {
    match topic {
        // A promise commits to the outcome; naming the topic ("your refund request") is not one.
        Topic::Refund => &[
            r"(?:serez|sera|êtes|est|soit|seront|serai)\s+(?:intégralement\s+|bien\s+|entièrement\s+)?rembours",
            r"(?:vous|te|t')\s*rembourser(?:ons|a|ont)\b",
            r"\brembourserons\b",
            r"remboursement\s+(?:intégral|total|complet)",
            r"remboursement\s+(?:est\s+|a été\s+|sera\s+)?(?:validé|effectué|accordé|garanti|confirmé|approuvé)",
            r"(?:will|'ll|’ll|shall)\s+(?:be\s+)?refund",
            r"(?:be|been|is|are|get)\s+(?:fully\s+)?refunded",
            r"refund\s+(?:is|has been|was|will be)\s+(?:approved|processed|issued|confirmed|on its way)",
            r"full refund",
            r"(?:get|have) your money back",
        ],
        Topic::Compensation => &[
            r"(?:offr|accord|propos|verser|attribu)\p{L}*\s+(?:un\s+|une\s+)?(?:geste commercial|dédommagement|indemnisation|avoir|bon d.achat|compensation)",
            r"(?:serez|sera|êtes)\s+(?:dédommag|indemnis)",
            r"(?:will|'ll|’ll)\s+(?:be\s+)?compensat",
            r"(?:offer|give|credit)\p{L}*\s+(?:you\s+)?(?:a\s+|an\s+)?(?:compensation|goodwill gesture|account credit|credit of)",
        ],
        Topic::Discount => &[
            r"\bcode promo",
            r"\bpromo\b",
            r"réduction",
            r"remise",
            r"\d+\s?%",
            r"discount",
            r"promo code",
            r"coupon",
        ],
        Topic::DeliveryDate => &[
            r"livr\p{L}*\s+(?:demain|avant|d'ici|d’ici|sous|le|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|cette semaine)",
            r"arrivera\s+(?:demain|avant|d'ici|le)",
            r"\bdeliver\p{L}*\s+(?:tomorrow|by|before|within|on)",
            r"arrive\p{L}*\s+(?:tomorrow|by|before|on)",
            r"\bexpédi\p{L}*\s+(?:demain|aujourd'hui)",
        ],
        Topic::Stock => &[
            r"en stock",
            r"in stock",
            r"disponible en magasin",
            r"back in stock",
            r"de retour en stock",
        ],
        Topic::OpeningHours => &[
            r"ouvert\p{L}*\s+(?:de|à|dès|jusqu|le|du)",
            r"\bopen\s+(?:from|at|until|till|on)",
            r"\d{1,2}\s?h\s?\d{0,2}\s?(?:à|-)\s?\d{1,2}\s?h",
            r"\d{1,2}\s?(?:am|pm)\b",
        ],
        Topic::Fit => &[
            r"compatible",
            r"ça (?:ira|va aller|conviendra)",
            r"cela conviendra",
            r"\bfits?\b",
            r"will work with",
            r"works with",
            r"\bsuitable for\b",
        ],
        Topic::Price => &[
            r"\d+(?:[.,]\d+)?\s?(?:€|eur\b|euros?\b)",
            r"[$£€]\s?\d",
            r"\bprix\s+(?:de|est)",
            r"\bcosts?\s+\d",
        ],
        _ => &[],
    }
}

/// The first phrase of the draft (outside approved facts) that promises a never-promise topic.
fn promise(text: &str, facts: &[&str], content: &BrandContent) -> Option<(Topic, String)> {
    let mut rest = text.to_owned();
    for f in facts {
        rest = rest.replace(f, " ");
    }
    static COMPILED: LazyLock<Vec<(Topic, Vec<Regex>)>> = LazyLock::new(|| {
        Topic::ALL
            .iter()
            .map(|t| {
                (
                    *t,
                    promise_patterns(*t)
                        .iter()
                        .map(|p| re(&format!("(?i){p}")))
                        .collect(),
                )
            })
            .collect()
    });
    for topic in &content.voice.policies.never_promise {
        let Some((_, patterns)) = COMPILED.iter().find(|(t, _)| t == topic) else {
            continue;
        };
        for p in patterns {
            if let Some(m) = p.find(&rest) {
                return Some((*topic, m.as_str().to_owned()));
            }
        }
    }
    None
}

/// Personal data in the draft: an e-mail, a phone number, an IBAN, a street address, the
/// author's surname, or anything long the comment exposed.
fn personal_data(d: &Draft<'_>) -> Option<String> {
    let mut scan = d.text.to_owned();
    for f in d.facts {
        scan = scan.replace(f, " ");
    }
    if let Some(m) = EMAIL.find(&scan) {
        return Some(format!("an e-mail address ({})", m.as_str()));
    }
    if let Some(m) = IBAN.find(&scan).filter(|m| digits(m.as_str()) >= 10) {
        return Some(format!("an account number ({})", m.as_str()));
    }
    if let Some(m) = PHONE.find_iter(&scan).find(|m| digits(m.as_str()) >= 9) {
        return Some(format!("a phone or card number ({})", m.as_str().trim()));
    }
    if let Some(m) = STREET.find(&scan) {
        return Some(format!("a street address ({})", m.as_str()));
    }
    if let Some(name) = d.author_name {
        let mut parts = name.split_whitespace();
        parts.next();
        for surname in parts.filter(|p| p.chars().count() >= 3) {
            let pattern = format!(r"(?i)(?:^|\W){}(?:$|\W)", regex::escape(surname));
            if cached(&pattern).is_match(&scan) {
                return Some(format!("the author's surname ({surname})"));
            }
        }
    }
    // anything of the comment's own digits (an order number is allowed: 5 to 12 characters)
    for m in PHONE
        .find_iter(d.comment)
        .filter(|m| digits(m.as_str()) >= 9)
    {
        let digits_only: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        let draft_digits: String = scan.chars().filter(char::is_ascii_digit).collect();
        if draft_digits.contains(&digits_only) {
            return Some("a number the comment exposed".into());
        }
    }
    None
}

/// French typography: narrow no-break space before ? ! ; and no-break space before : and
/// inside « », typographic apostrophe.
pub fn french_typography(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        match c {
            '?' | '!' | ';' | ':' => {
                // not inside a URL (https://) nor a time (10:30)
                let in_url = c == ':' && next == Some('/');
                let in_number = c == ':'
                    && prev.is_some_and(|p| p.is_ascii_digit())
                    && next.is_some_and(|n| n.is_ascii_digit());
                if !in_url && !in_number {
                    while out.ends_with(' ') {
                        out.pop();
                    }
                    let space = if c == ':' { '\u{A0}' } else { '\u{202F}' };
                    if !out.ends_with(['\u{A0}', '\u{202F}', '?', '!'])
                        && !out.is_empty()
                        && !out.ends_with('\n')
                    {
                        out.push(space);
                    }
                }
                out.push(c);
            }
            '\'' => out.push('’'),
            '«' => {
                out.push('«');
                if next != Some('\u{A0}') {
                    out.push('\u{A0}');
                }
            }
            '»' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                if !out.ends_with('\u{A0}') {
                    out.push('\u{A0}');
                }
                out.push('»');
            }
            ' ' if prev == Some('«') => {}
            _ => out.push(c),
        }
    }
    out
}

fn typography_fault(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        let fine = match c {
            '?' | '!' | ';' => matches!(prev, Some('\u{202F}' | '\u{A0}' | '?' | '!') | None),
            ':' => {
                next == Some('/')
                    || (prev.is_some_and(|p| p.is_ascii_digit())
                        && next.is_some_and(|n| n.is_ascii_digit()))
                    || matches!(prev, Some('\u{A0}' | '\u{202F}'))
            }
            '\'' => false,
            '«' => next == Some('\u{A0}'),
            '»' => prev == Some('\u{A0}'),
            _ => true,
        };
        if !fine {
            let shown: String = chars[i.saturating_sub(12)..(i + 1).min(chars.len())]
                .iter()
                .collect();
            return Some(format!("{c:?} in \"{shown}\""));
        }
    }
    None
}

/// Every check, in order; the draft passes when all pass.
pub fn check(d: &Draft<'_>, content: &BrandContent, speller: &dyn Speller) -> Vec<CheckOutcome> {
    let v = &content.voice;
    let mut out = Vec::new();
    let mut push = |check: &str, fault: Option<String>| {
        out.push(CheckOutcome {
            check: check.into(),
            passed: fault.is_none(),
            detail: fault.unwrap_or_default(),
        })
    };

    let limit = v.reply_limit(d.platform);
    let len = weighted_len(d.text, d.platform);
    push(
        "length",
        (len > limit).then(|| format!("{len} characters, {} allows {limit}", d.platform)),
    );

    let body_lang = crate::language::detect(d.text, &v.languages);
    push(
        "language",
        body_lang
            .filter(|l| l.reliable && l.code != d.lang)
            .map(|l| format!("reads as {}, the reply is in {}", l.code, d.lang)),
    );

    let formality = match d.lang {
        "fr" => v.french_address.and_then(|a| {
            wrong_address(d.text, a).map(|w| {
                format!(
                    "\"{w}\" in a {} brand",
                    match a {
                        FrenchAddress::Vous => "vous",
                        FrenchAddress::Tu => "tu",
                    }
                )
            })
        }),
        "en" => (v.english_register == Some(EnglishRegister::Formal))
            .then(|| {
                contraction(d.text).map(|w| format!("contraction \"{w}\" in a formal register"))
            })
            .flatten(),
        _ => None,
    };
    push("formality", formality);

    let sign_off_ok = d
        .text
        .trim_end_matches(['\n', ' '])
        .ends_with(&format!("\n{}", v.sign_off))
        && d.text.ends_with(&v.sign_off);
    push(
        "sign_off",
        (!sign_off_ok).then(|| format!("must end with \"{}\", nothing after it", v.sign_off)),
    );

    let emoji = d.text.chars().filter(|c| is_emoji(*c)).count();
    push(
        "emoji",
        (emoji > usize::from(v.emoji_max))
            .then(|| format!("{emoji} emoji, at most {}", v.emoji_max)),
    );

    let lower = d.text.to_lowercase().replace('’', "'");
    let banned = v.banned_words.iter().find(|w| {
        let w = w.to_lowercase().replace('’', "'");
        cached(&format!(
            r"(?:^|[^\p{{L}}]){}(?:$|[^\p{{L}}])",
            regex::escape(&w)
        ))
        .is_match(&lower)
    });
    push("banned_word", banned.map(|w| format!("\"{w}\"")));

    push(
        "promise",
        promise(d.text, d.facts, content)
            .map(|(t, w)| format!("promises {t} (\"{w}\") without an approved fact")),
    );

    push("personal_data", personal_data(d));

    push(
        "slot",
        (d.text.contains('{') || d.text.contains('}')).then(|| "a slot left unfilled".to_owned()),
    );

    let bad_link = URL.find_iter(d.text).find(|m| {
        let url = m
            .as_str()
            .trim_end_matches(['.', ',', '!', '?', ';', ':', '\u{A0}', '\u{202F}']);
        !v.allowed_links.iter().any(|p| url.starts_with(p.as_str()))
    });
    push(
        "link",
        bad_link.map(|m| format!("{} is not an allowed link", m.as_str())),
    );

    let text_no_urls = URL.replace_all(d.text, " ");
    let words: Vec<&str> = WORD.find_iter(&text_no_urls).map(|m| m.as_str()).collect();
    let allowed = |w: &str| {
        content
            .words
            .iter()
            .chain(&content.products)
            .any(|b| b.split_whitespace().any(|p| p.eq_ignore_ascii_case(w)))
            || d.author_name
                .is_some_and(|n| n.split_whitespace().any(|p| p == w))
    };
    let to_check: Vec<&str> = words.into_iter().filter(|w| !allowed(w)).collect();
    let spelling = match speller.misspelled(d.lang, &to_check) {
        Some(bad) if !bad.is_empty() => Some(format!(
            "unknown to the {} dictionary: {}",
            d.lang,
            bad.join(", ")
        )),
        Some(_) => None,
        None => Some(format!("no {} dictionary to check the spelling", d.lang)),
    };
    push("spelling", spelling);

    if d.lang == "fr" && v.french_typography {
        // the sign-off is the brand's verbatim, as it wrote it
        let before = d.text.strip_suffix(v.sign_off.as_str()).unwrap_or(d.text);
        push("typography", typography_fault(before));
    }
    out
}

/// The checks on a reply a manager writes or edits for `comment`, as drafting runs them
/// on its own drafts: in the reply's language (`comment_lang` when the brand serves it,
/// else its default), with the approved facts the text states verbatim. `speller: None`:
/// no dictionary at hand, the spelling check is left out (not failed).
pub fn check_edit(
    text: &str,
    comment: &crate::comment::Comment,
    comment_lang: &str,
    content: &BrandContent,
    speller: Option<&dyn Speller>,
) -> Vec<CheckOutcome> {
    let lang = content.voice.reply_language(comment_lang);
    // a fact as the brand wrote it, or with the French typography drafting gives it
    let stated: Vec<String> = content
        .facts
        .iter()
        .filter(|f| f.lang == lang)
        .flat_map(|f| [f.text.clone(), french_typography(&f.text)])
        .filter(|f| text.contains(f.as_str()))
        .collect();
    let facts: Vec<&str> = stated.iter().map(String::as_str).collect();
    struct Unchecked;
    impl Speller for Unchecked {
        fn misspelled(&self, _: &str, _: &[&str]) -> Option<Vec<String>> {
            Some(Vec::new())
        }
    }
    let mut out = check(
        &Draft {
            text,
            lang,
            platform: comment.key.platform.as_str(),
            facts: &facts,
            author_name: comment.author.name.as_deref(),
            comment: comment.text.as_ref().map_or("", |t| t.as_str()),
        },
        content,
        speller.unwrap_or(&Unchecked),
    );
    if speller.is_none() {
        out.retain(|o| o.check != "spelling");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_typography_puts_the_right_spaces_and_apostrophes() {
        let t = french_typography(
            "Merci ! Vous l'avez reçu ? Écrivez-nous : « vite » ; à 10:30 sur https://a.fr/b",
        );
        assert_eq!(
            t,
            "Merci\u{202F}! Vous l’avez reçu\u{202F}? Écrivez-nous\u{A0}: «\u{A0}vite\u{A0}»\u{202F}; à 10:30 sur https://a.fr/b"
        );
        assert_eq!(typography_fault(&t), None);
        assert!(typography_fault("Merci !").is_some());
        assert!(typography_fault("l'avez").is_some());
        assert_eq!(french_typography(&t), t, "idempotent");
    }

    #[test]
    fn the_wrong_form_of_address_is_found_but_not_inside_words() {
        assert_eq!(
            wrong_address(
                "Écris-nous en privé, on regarde ton dossier",
                FrenchAddress::Vous
            )
            .as_deref(),
            Some("écris-nous")
        );
        assert_eq!(
            wrong_address("N'hésitez pas à revenir vers nous", FrenchAddress::Tu).as_deref(),
            Some("n'hésitez pas")
        );
        assert_eq!(
            wrong_address("Prends rendez-vous en boutique", FrenchAddress::Tu),
            None
        );
        assert_eq!(
            wrong_address(
                "Nous avons tout vérifié, tutoriel en ligne",
                FrenchAddress::Vous
            ),
            None
        );
        assert_eq!(contraction("We'll look into it").as_deref(), Some("We'll"));
        assert_eq!(contraction("Globex's team will look"), None);
    }

    #[test]
    fn weighted_length_counts_emoji_twice_on_x_only() {
        assert_eq!(weighted_len("abc 😀", "x"), 6);
        assert_eq!(weighted_len("abc 😀", "facebook"), 5);
        assert_eq!(weighted_len("été – ça", "x"), 8);
    }
}
