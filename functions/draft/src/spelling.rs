//! Hunspell dictionaries as the domain's [`Speller`]. Checking a word is fast; asking for
//! suggestions is not, and drafting never does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spellbook::Dictionary;
use vigie_core::checks::Speller;

/// Where Debian installs the dictionaries.
pub const DEFAULT_DIR: &str = "/usr/share/hunspell";

/// Dictionary files per language, first found wins (fr: the classical spelling of
/// `hunspell-fr-classical`, which also accepts the reformed one, then the generic one).
const FILES: [(&str, &[&str]); 2] = [("fr", &["fr_FR", "fr"]), ("en", &["en_US", "en_GB"])];

#[derive(Debug, thiserror::Error)]
pub enum SpellingError {
    #[error(
        "no {lang} dictionary in {dir} (looked for {names}); install hunspell-fr-classical and hunspell-en-us (scripts/setup-system) or set VIGIE_DICTIONARIES"
    )]
    Missing {
        lang: String,
        dir: PathBuf,
        names: String,
    },
    #[error("dictionary {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

pub struct HunspellSpeller {
    dictionaries: BTreeMap<String, Dictionary>,
}

impl std::fmt::Debug for HunspellSpeller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HunspellSpeller")
            .field("languages", &self.dictionaries.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl HunspellSpeller {
    /// Loads the French and English dictionaries from `dir` (`VIGIE_DICTIONARIES`, else
    /// the Debian folder).
    pub fn load(dir: &Path) -> Result<Self, SpellingError> {
        let mut dictionaries = BTreeMap::new();
        for (lang, names) in FILES {
            let found = names
                .iter()
                .map(|n| (dir.join(format!("{n}.aff")), dir.join(format!("{n}.dic"))))
                .find(|(a, d)| a.is_file() && d.is_file());
            let Some((aff, dic)) = found else {
                return Err(SpellingError::Missing {
                    lang: lang.into(),
                    dir: dir.to_owned(),
                    names: names.join(", "),
                });
            };
            let read = |p: &Path| {
                std::fs::read(p)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| SpellingError::Corrupt {
                        path: p.to_owned(),
                        reason: e.to_string(),
                    })
            };
            let d = Dictionary::new(&read(&aff)?, &read(&dic)?).map_err(|e| {
                SpellingError::Corrupt {
                    path: aff.clone(),
                    reason: e.to_string(),
                }
            })?;
            dictionaries.insert(lang.to_owned(), d);
        }
        Ok(Self { dictionaries })
    }

    pub fn from_env() -> Result<Self, SpellingError> {
        let dir = std::env::var_os("VIGIE_DICTIONARIES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        Self::load(&dir)
    }

    fn known(d: &Dictionary, word: &str) -> bool {
        if d.check(word) {
            return true;
        }
        // the dictionaries spell the apostrophe straight; elisions (l’équipe) check as parts
        let straight = word.replace('’', "'");
        if straight != word && d.check(&straight) {
            return true;
        }
        if let Some((head, tail)) = straight.split_once('\'') {
            let head_ok = d.check(&format!("{head}'"));
            return head_ok && (tail.is_empty() || d.check(tail));
        }
        // hyphenated compounds: every part known (écrivez-nous, click-and-collect)
        straight.contains('-') && straight.split('-').all(|p| !p.is_empty() && d.check(p))
    }
}

impl Speller for HunspellSpeller {
    fn misspelled(&self, lang: &str, words: &[&str]) -> Option<Vec<String>> {
        let d = self.dictionaries.get(lang)?;
        let mut bad: Vec<String> = words
            .iter()
            .filter(|w| !Self::known(d, w))
            .map(|w| w.to_string())
            .collect();
        bad.dedup();
        Some(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speller() -> Option<HunspellSpeller> {
        match HunspellSpeller::from_env() {
            Ok(s) => Some(s),
            Err(e) if std::env::var("VIGIE_REQUIRE_DICTIONARIES").as_deref() == Ok("1") => {
                panic!("{e}")
            }
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    #[test]
    fn french_and_english_words_check_and_mistakes_do_not() {
        let Some(s) = speller() else { return };
        let fr = [
            "Bonjour",
            "commande",
            "l’équipe",
            "écrivez-nous",
            "aujourd'hui",
            "reçu",
            "n'hésitez",
        ];
        assert_eq!(s.misspelled("fr", &fr), Some(vec![]));
        assert_eq!(
            s.misspelled("fr", &["comande", "recu", "equipe", "livraison"]),
            Some(vec![
                "comande".to_string(),
                "recu".to_string(),
                "equipe".to_string()
            ])
        );
        assert_eq!(
            s.misspelled("en", &["Thanks", "we'll", "order", "delivery"]),
            Some(vec![])
        );
        assert_eq!(
            s.misspelled("en", &["recieve", "definately"])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(s.misspelled("de", &["Hallo"]), None);
    }

    #[test]
    fn a_missing_folder_names_what_to_install() {
        let e = HunspellSpeller::load(Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hunspell-fr-classical") && e.contains("/nonexistent"),
            "{e}"
        );
    }
}
