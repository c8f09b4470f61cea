//! Text to index terms: word splitting (camelCase too), stop words, English stemming.

use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "being", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have",
    "he", "her", "here", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "let",
    "lets", "me", "might", "must", "my", "need", "no", "not", "of", "on", "onto", "or", "our",
    "out", "please", "shall", "she", "should", "so", "some", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "too", "up", "us", "very",
    "via", "want", "was", "we", "were", "what", "when", "where", "whether", "which", "who", "whom",
    "why", "will", "with", "would", "you", "your",
];

pub(super) fn stemmer() -> &'static Stemmer {
    static S: OnceLock<Stemmer> = OnceLock::new();
    S.get_or_init(|| Stemmer::create(Algorithm::English))
}

#[cfg(test)]
pub(crate) const STOP_WORDS_FOR_TEST: &[&str] = STOP_WORDS;

pub(super) fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// Splits text into lower-case, stop-word-free, stemmed terms. Words break at every
/// non-alphanumeric character and at camelCase boundaries (`getHTTPStatus` → get, http, status);
/// a camelCase word is also kept whole (`JavaScript` → java, script, javascript), since people
/// write it both ways.
pub(crate) fn tokenize(text: &str, emit: &mut impl FnMut(String)) {
    split_words(text, true, false, &mut |_, stem| emit(stem));
}

/// Whether a lower-case English word looks like a plural noun ("requests", "queries"), judged
/// on the surface form because stemming erases number.
pub(crate) fn is_plural(word: &str) -> bool {
    word.len() > 3
        && word.ends_with('s')
        && !["ss", "us", "is", "ous"].iter().any(|e| word.ends_with(e))
        && word.chars().all(|c| c.is_alphabetic())
}

/// Like [`tokenize`] without whole camelCase words, passing each term's lower-case surface
/// word too: the words of a tool name, in order.
pub(crate) fn tokenize_words(text: &str, emit: &mut impl FnMut(&str, String)) {
    split_words(text, false, false, emit);
}

/// Like [`tokenize`], passing each term's lower-case surface word too.
pub(crate) fn tokenize_query(text: &str, emit: &mut impl FnMut(&str, String)) {
    split_words(text, true, false, emit);
}

/// Every word of `text` as a term, stop words included: the fallback for a request made only
/// of common words ("who am I").
pub(crate) fn tokenize_all(text: &str, emit: &mut impl FnMut(&str, String)) {
    split_words(text, true, true, emit);
}

fn split_words(
    text: &str,
    keep_whole: bool,
    keep_stop_words: bool,
    emit: &mut impl FnMut(&str, String),
) {
    let mut chars: Vec<char> = Vec::new();
    for run in text.split(|c: char| !c.is_alphanumeric()) {
        if run.is_empty() {
            continue;
        }
        chars.clear();
        chars.extend(run.chars());
        let mut start = 0;
        let mut parts = 0;
        for i in 1..=chars.len() {
            let boundary = i == chars.len() || {
                let (p, c) = (chars[i - 1], chars[i]);
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                (p.is_lowercase() && c.is_uppercase())
                    || (p.is_uppercase() && c.is_uppercase() && next_lower)
            };
            if boundary {
                let word: String = chars[start..i]
                    .iter()
                    .flat_map(|c| c.to_lowercase())
                    .collect();
                start = i;
                parts += 1;
                if !keep_stop_words && is_stop_word(&word) {
                    continue;
                }
                let stem = stemmer().stem(&word).into_owned();
                emit(&word, stem);
            }
        }
        if keep_whole && parts > 1 {
            let word = run.to_lowercase();
            let stem = stemmer().stem(&word).into_owned();
            emit(&word, stem);
        }
    }
}
