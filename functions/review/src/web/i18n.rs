//! The page's words in English and French: one catalogue, a key per phrase. The language
//! is the `lang` cookie's when set (the FR/EN switch), else the browser's preference
//! (`Accept-Language`: French when it prefers French to English), else English.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The other one, for the switch.
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Fr,
            Lang::Fr => Lang::En,
        }
    }

    /// The request's language: the `lang` cookie, else `Accept-Language`, else English.
    pub fn of(headers: &HeaderMap) -> Self {
        let from_cookie = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == LANG_COOKIE)
            .and_then(|(_, v)| Lang::parse(v.trim()));
        from_cookie.unwrap_or_else(|| {
            headers
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map_or(Lang::En, Lang::preferred)
        })
    }

    /// French when the `Accept-Language` list weighs French above English.
    pub fn preferred(accept: &str) -> Self {
        let (mut fr, mut en) = (0.0_f32, 0.0_f32);
        for (position, entry) in accept.split(',').enumerate() {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            // among equal weights, the one listed first wins
            let weight = q - position as f32 * 1e-4;
            let primary = tag.split('-').next().unwrap_or("");
            match primary {
                "fr" => fr = fr.max(weight),
                "en" => en = en.max(weight),
                _ => {}
            }
        }
        if fr > en { Lang::Fr } else { Lang::En }
    }

    /// The phrase for `key`; the key itself when the catalogue lacks it.
    pub fn t(self, key: &str) -> &'static str {
        let (en, fr) = phrase(key).unwrap_or(("?", "?"));
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }
}

/// `(English, French)` for each key of the page.
fn phrase(key: &str) -> Option<(&'static str, &'static str)> {
    Some(match key {
        "skip" => ("Skip to content", "Aller au contenu"),
        "app" => ("vigie", "vigie"),
        "main_nav" => ("Main", "Principal"),
        "inbox" => ("Inbox", "À traiter"),
        "reports" => ("Reports", "Rapports"),
        "sign_in" => ("Sign in", "Se connecter"),
        "sign_out" => ("Sign out", "Se déconnecter"),
        "user" => ("User name", "Nom d'utilisateur"),
        "password" => ("Password", "Mot de passe"),
        "bad_credentials" => (
            "Wrong user name or password.",
            "Nom d'utilisateur ou mot de passe incorrect.",
        ),
        "rate_limited" => (
            "Too many failed sign-ins. Try again in",
            "Trop d'échecs de connexion. Réessayez dans",
        ),
        "seconds" => ("seconds", "secondes"),
        "switch_lang" => ("Français", "English"),
        "switch_lang_label" => ("Lire en français", "Read in English"),
        "signed_in_as" => ("Signed in as", "Connecté en tant que"),
        "brand" => ("Brand", "Marque"),
        "not_found" => ("Nothing here", "Rien ici"),
        "not_found_text" => (
            "There is no such page, or it is not yours to see.",
            "Cette page n'existe pas, ou elle ne vous est pas ouverte.",
        ),
        "no_brand" => (
            "Your account has no brand yet: ask an admin.",
            "Votre compte n'a pas encore de marque : demandez à un administrateur.",
        ),
        "unavailable" => (
            "The service is unavailable: try again shortly.",
            "Le service est indisponible : réessayez dans un instant.",
        ),
        "bad_request" => (
            "This request is not understood:",
            "Cette demande n'est pas comprise :",
        ),
        "filters" => ("Filters", "Filtres"),
        "all" => ("All", "Tout"),
        "platform" => ("Platform", "Plateforme"),
        "sentiment" => ("Sentiment", "Sentiment"),
        "intent" => ("Intent", "Intention"),
        "status" => ("Status", "Statut"),
        "assignee" => ("Assignee", "Attribué à"),
        "sla" => ("Response due", "Réponse attendue"),
        "sla_breached" => ("Overdue", "En retard"),
        "overdue" => ("overdue", "en retard"),
        "due_in" => ("due in", "dans"),
        "nobody" => ("nobody", "personne"),
        "urgency" => ("Urgency", "Urgence"),
        "reasons" => ("Reasons", "Raisons"),
        "comment" => ("Comment", "Commentaire"),
        "private" => ("Private message", "Message privé"),
        "author" => ("Author", "Auteur"),
        "received" => ("Received", "Reçu"),
        "matching" => ("comments match", "commentaires correspondent"),
        "next_page" => ("Next page", "Page suivante"),
        "first_page" => ("First page", "Première page"),
        "refresh" => ("Refresh", "Actualiser"),
        "empty_inbox" => ("Nothing to handle here.", "Rien à traiter ici."),
        "apply" => ("Apply", "Appliquer"),
        "thread" => ("Thread", "Fil"),
        "scores" => ("Scores", "Scores"),
        "suggestions" => ("Suggested replies", "Réponses proposées"),
        "suggestion" => ("Suggestion", "Proposition"),
        "no_suggestions" => (
            "No suggested reply for this comment.",
            "Aucune réponse proposée pour ce commentaire.",
        ),
        "reply_text" => ("Reply text", "Texte de la réponse"),
        "characters" => ("characters", "caractères"),
        "limit" => ("limit", "limite"),
        "checks_failed" => ("Check failed", "Vérification échouée"),
        "checks_passed" => ("checks passed", "vérifications réussies"),
        "engine" => ("engine", "moteur"),
        "edited" => ("edited", "modifiée"),
        "approve" => ("Approve", "Approuver"),
        "edit_and_approve" => ("Save text and approve", "Enregistrer le texte et approuver"),
        "reject" => ("Reject", "Rejeter"),
        "reject_reason" => ("Reason for rejecting", "Motif du rejet"),
        "claim" => ("Claim", "Prendre en charge"),
        "release" => ("Release", "Libérer"),
        "hide" => ("Hide comment", "Masquer le commentaire"),
        "ignore" => ("Ignore", "Ignorer"),
        "escalate" => ("Escalate", "Remonter"),
        "regenerate" => ("New drafts", "Nouvelles propositions"),
        "mark_sent" => ("Mark sent", "Marquer comme envoyée"),
        "platform_reply_id" => (
            "Reply id on the platform",
            "Identifiant de la réponse sur la plateforme",
        ),
        "actions" => ("Actions", "Actions"),
        "review" => ("Review", "Traitement"),
        "revision" => ("revision", "révision"),
        "claimed_by" => ("Claimed by", "Pris en charge par"),
        "until" => ("until", "jusqu'à"),
        "sent" => ("Sent", "Envoyée"),
        "audit" => ("Audit trail", "Historique"),
        "audit_empty" => ("Nothing done yet.", "Rien de fait pour l'instant."),
        "when" => ("When", "Quand"),
        "who" => ("Who", "Qui"),
        "what" => ("What", "Quoi"),
        "detail" => ("Detail", "Détail"),
        "done" => ("Done.", "C'est fait."),
        "conflict" => (
            "Someone changed this comment while you were on it: here is what it is now.",
            "Quelqu'un a modifié ce commentaire pendant que vous étiez dessus : le voici tel qu'il est maintenant.",
        ),
        "claimed_by_other" => (
            "Another manager is on this comment:",
            "Un autre gestionnaire s'occupe de ce commentaire :",
        ),
        "forbidden" => (
            "Your role may only read this brand's comments.",
            "Votre rôle ne permet que de lire les commentaires de cette marque.",
        ),
        "invalid" => ("This cannot be done now:", "Impossible pour l'instant :"),
        "keyboard" => (
            "Keys: j/k next/previous, a approve the first suggestion, r reject reason.",
            "Touches : j/k suivant/précédent, a approuver la première proposition, r motif de rejet.",
        ),
        "period" => ("Period", "Période"),
        "from" => ("From", "Du"),
        "to" => ("To", "Au"),
        "show" => ("Show", "Afficher"),
        "totals" => ("Totals", "Totaux"),
        "volume" => ("Comments", "Commentaires"),
        "urgent" => ("Urgent", "Urgents"),
        "sla_breaches" => ("Late replies", "Réponses en retard"),
        "replied" => ("Replied", "Répondus"),
        "median_first_response" => (
            "Median time to first reply (minutes)",
            "Délai médian de première réponse (minutes)",
        ),
        "unedited_share" => ("Replies sent as drafted", "Réponses envoyées sans retouche"),
        "top_intents" => ("Top intents", "Intentions principales"),
        "spikes" => ("Negative spikes", "Pics négatifs"),
        "no_spikes" => ("No spike over the period.", "Aucun pic sur la période."),
        "negatives" => ("negatives", "négatifs"),
        "usually" => ("usually", "d'habitude"),
        "daily_volume" => (
            "Daily volume by sentiment",
            "Volume quotidien par sentiment",
        ),
        "download_csv" => ("Download CSV", "Télécharger le CSV"),
        "negative" => ("negative", "négatif"),
        "neutral" => ("neutral", "neutre"),
        "positive" => ("positive", "positif"),
        "unknown" => ("unknown", "inconnu"),
        "none" => ("none", "aucun"),
        "yes" => ("yes", "oui"),
        "no" => ("no", "non"),
        "count" => ("Count", "Nombre"),
        "day" => ("Day", "Jour"),
        "brand_content" => ("Brand content", "Contenus de la marque"),
        "no_content_to_check" => (
            "The brand has no content yet: nothing to check against.",
            "La marque n'a pas encore de contenus : rien à vérifier.",
        ),
        "spelling_not_here" => (
            "Spelling is checked when vigie drafts, not on this page.",
            "L'orthographe est vérifiée quand vigie rédige, pas sur cette page.",
        ),
        "version" => ("Version", "Version"),
        "stored_by" => ("stored by", "enregistrée par"),
        "no_content" => (
            "No content stored yet: write the files below.",
            "Aucun contenu enregistré : rédigez les fichiers ci-dessous.",
        ),
        "current_version" => (
            "back to the current version",
            "revenir à la version actuelle",
        ),
        "unembedded" => (
            "approved replies are not embedded yet: drafting ranks them after the others until `vigie brand embed` runs.",
            "réponses approuvées ne sont pas encore vectorisées : la rédaction les classe après les autres jusqu'au passage de `vigie brand embed`.",
        ),
        "content_help" => (
            "The voice profile, the approved replies, the facts and the accepted words, as the files of a brand folder (docs/brand-content.md). Each save is a new version, checked as an import is.",
            "Le profil de voix, les réponses approuvées, les faits et les mots acceptés, comme les fichiers d'un dossier de marque (docs/brand-content.md). Chaque enregistrement crée une version, vérifiée comme un import.",
        ),
        "store_as_version" => ("Save as version", "Enregistrer comme version"),
        "restore_as_version" => ("Restore as version", "Restaurer comme version"),
        "admins_edit" => (
            "Only the brand's admins can change its content.",
            "Seuls les administrateurs de la marque peuvent modifier ses contenus.",
        ),
        "earlier_versions" => ("Earlier versions", "Versions précédentes"),
        "content_stored" => ("Stored as version", "Enregistré comme version"),
        "content_invalid" => ("Not saved:", "Non enregistré :"),
        "content_conflict" => (
            "Not saved: someone stored another version meanwhile. Your text is below; the current version is",
            "Non enregistré : quelqu'un a enregistré une autre version entre-temps. Votre texte est ci-dessous ; la version actuelle est la",
        ),
        "content_forbidden" => (
            "Only the brand's admins can change its content.",
            "Seuls les administrateurs de la marque peuvent modifier ses contenus.",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_french_only_when_it_weighs_more() {
        assert_eq!(Lang::preferred("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::preferred("en-GB,en;q=0.9,fr;q=0.8"), Lang::En);
        assert_eq!(Lang::preferred("fr"), Lang::Fr);
        assert_eq!(Lang::preferred("de-DE,de"), Lang::En);
        assert_eq!(Lang::preferred("de,fr;q=0.5"), Lang::Fr);
        assert_eq!(Lang::preferred(""), Lang::En);
    }

    #[test]
    fn the_cookie_wins_over_the_header() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_LANGUAGE, "fr-FR".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert(COOKIE, "a=b; lang=en".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::En);
    }
}
