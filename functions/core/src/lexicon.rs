//! French and English phrases that flag a category of risk.
//!
//! Text and phrases are compared accent- and case-folded, word by word; a word ending in
//! `*` matches any word starting with it ("rembours*" matches "remboursez").

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Safety,
    Legal,
    Press,
    Outage,
    DataLeak,
    Churn,
    Abuse,
}

const PHRASES: &[(Category, &[&str])] = &[
    (
        Category::Safety,
        &[
            "brul*",
            "intoxi*",
            "empoisonn*",
            "allergi*",
            "bless*",
            "explos*",
            "incendie",
            "pris feu",
            "etouff*",
            "hopital",
            "urgences",
            "danger*",
            "malaise",
            "rappel produit",
            "toxique",
            "burn*",
            "poison*",
            "allergic",
            "injur*",
            "exploded",
            "caught fire",
            "fire hazard",
            "chok*",
            "hospital",
            "emergency room",
            "dangerous",
            "unsafe",
            "recall",
            "toxic",
        ],
    ),
    (
        Category::Legal,
        &[
            "avocat",
            "plainte",
            "porter plainte",
            "proces",
            "tribunal",
            "justice",
            "mise en demeure",
            "poursuite*",
            "dgccrf",
            "association de consommateurs",
            "ufc que choisir",
            "lawyer",
            "attorney",
            "sue",
            "suing",
            "lawsuit",
            "legal action",
            "in court",
            "to court",
            "small claims",
            "class action",
            "trading standards",
            "better business bureau",
        ],
    ),
    (
        Category::Press,
        &[
            "journaliste",
            "la presse",
            "medias",
            "media",
            "bfm",
            "tf1",
            "france 2",
            "le parisien",
            "boycott*",
            "scandale",
            "bad buzz",
            "viral",
            "tout le monde va savoir",
            "journalist",
            "the press",
            "reporter",
            "boycott",
            "scandal",
            "going viral",
            "everyone will know",
        ],
    ),
    (
        Category::Outage,
        &[
            "panne",
            "en panne",
            "ne fonctionne plus",
            "ne marche plus",
            "bug*",
            "hors service",
            "impossible de me connecter",
            "site inaccessible",
            "appli inaccessible",
            "coupure",
            "outage",
            "is down",
            "been down",
            "are down",
            "down again",
            "went down",
            "still down",
            "not working",
            "doesn't work",
            "does not work",
            "crash*",
            "can't log in",
            "cannot log in",
            "can't login",
            "error 500",
            "offline",
        ],
    ),
    (
        Category::DataLeak,
        &[
            "fuite de donnees",
            "donnees personnelles",
            "pirat*",
            "hack*",
            "usurpation",
            "phishing",
            "rgpd",
            "cnil",
            "mes donnees",
            "fraude",
            "carte bancaire debitee",
            "data breach",
            "data leak",
            "leaked",
            "my data",
            "personal data",
            "identity theft",
            "gdpr",
            "fraud",
            "unauthorized charge",
            "stolen",
        ],
    ),
    (
        Category::Churn,
        &[
            "resilier",
            "resiliation",
            "desabonn*",
            "je pars chez",
            "je change de",
            "plus jamais",
            "dernier achat",
            "je vais voir ailleurs",
            "rembours*",
            "cancel my",
            "cancelling",
            "canceling",
            "unsubscrib*",
            "switching to",
            "never again",
            "last time i",
            "refund",
            "chargeback",
            "taking my business",
        ],
    ),
    (
        Category::Abuse,
        &[
            "connard*",
            "con",
            "salop*",
            "encul*",
            "merde",
            "abruti*",
            "idiot*",
            "debile*",
            "je vais vous",
            "menace*",
            "harcel*",
            "raciste",
            "idiots",
            "stupid",
            "moron*",
            "scum",
            "fuck*",
            "shit",
            "bastard*",
            "i will find you",
            "threat*",
            "harass*",
            "racist",
        ],
    ),
];

/// One category found in a text, and the phrase that found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub category: Category,
    pub phrase: &'static str,
}

/// Lowercase, accents removed, split into words (letters and digits; apostrophes split).
pub fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let folded = folded.replace("n't", " n't");
    folded
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .flat_map(|w| {
            // "l'avocat" -> "l", "avocat"; but "n't" stays whole for English negations.
            if w == "n't" {
                vec![w]
            } else {
                w.split('\'').collect()
            }
        })
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn word_matches(pattern: &str, word: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => word.starts_with(prefix),
        None => pattern == word,
    }
}

/// A phrase as words; a trailing `*` stays on its last word.
fn phrase_words(phrase: &str) -> Vec<String> {
    let mut ws = words(phrase.trim_end_matches('*'));
    if phrase.ends_with('*')
        && let Some(last) = ws.last_mut()
    {
        last.push('*');
    }
    ws
}

/// The categories a text falls in, at most one hit per category, in table order.
pub fn scan(text: &str) -> Vec<Hit> {
    let ws = words(text);
    let mut hits = Vec::new();
    for (category, phrases) in PHRASES {
        let found = phrases.iter().find(|phrase| {
            let pw = phrase_words(phrase);
            !pw.is_empty()
                && ws
                    .windows(pw.len())
                    .any(|window| window.iter().zip(&pw).all(|(w, p)| word_matches(p, w)))
        });
        if let Some(phrase) = found {
            hits.push(Hit {
                category: *category,
                phrase,
            });
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories(text: &str) -> Vec<Category> {
        scan(text).into_iter().map(|h| h.category).collect()
    }

    #[test]
    fn folds_accents_case_and_elisions() {
        assert_eq!(words("L'Hôpital, DÉJÀ !"), ["l", "hopital", "deja"]);
        assert_eq!(categories("J'ai contacté l'avocat"), [Category::Legal]);
        assert_eq!(categories("BRÛLURE au 2e degré"), [Category::Safety]);
    }

    #[test]
    fn multi_word_and_prefix_phrases() {
        assert_eq!(
            categories("the app is not working since monday"),
            [Category::Outage]
        );
        assert_eq!(categories("I can't log in"), [Category::Outage]);
        assert_eq!(
            categories("Internet has been down all morning"),
            [Category::Outage]
        );
        assert_eq!(categories("Remboursez-moi maintenant"), [Category::Churn]);
        assert_eq!(
            categories("Fuite de données chez vous ?"),
            [Category::DataLeak]
        );
    }

    #[test]
    fn whole_words_only() {
        // "con" must not fire inside "contact" or "conseil".
        assert!(categories("Merci pour le conseil, je vous contacte demain").is_empty());
        assert!(categories("Nice update, see you downtown").is_empty());
    }

    #[test]
    fn several_categories_at_once() {
        let c = categories("Votre produit a explosé, j'appelle un journaliste et mon avocat");
        assert_eq!(c, [Category::Safety, Category::Legal, Category::Press]);
    }
}
