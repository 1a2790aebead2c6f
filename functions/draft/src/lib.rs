//! The draft function: reply suggestions for triaged comments in the brand's voice, each
//! checked before it is stored. Spelling is Hunspell's dictionaries read by `spellbook`
//! (Debian `hunspell-fr-classical` and `hunspell-en-us`, installed by scripts/setup-system
//! and packaged with the function). Drafting engines: the domain's grounded one, and
//! [`bedrock::BedrockEngine`] on Amazon Bedrock's Converse API when a brand chooses it.

pub mod bedrock;
pub mod handler;
pub mod spelling;
