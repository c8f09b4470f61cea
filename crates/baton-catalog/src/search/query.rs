//! Ranking one query against the index.

use std::collections::HashMap;

use super::index::SearchIndex;
use super::text::{is_plural, is_stop_word, stemmer, tokenize_all, tokenize_query};
use super::vocabulary::{PHRASES, abbreviations, intents, synonyms};
use super::{Hit, MAX_QUERY_CHARS, MAX_SEARCH_LIMIT};
use crate::entry::ToolEntry;
use crate::error::{Error, ErrorKind, Result};

/// Weight of a synonym relative to the word the user typed.
const SYNONYM_WEIGHT: f32 = 0.6;
/// How much a tool gains for matching a larger share of the query's terms.
const COVERAGE: f32 = 2.0;
/// Share of the tool's name words (its verb and object, service prefix excluded) that the
/// query matches: the name is the most precise summary of what a tool does.
const NAME_COVERAGE: f32 = 1.0;
/// Adjacent query words matching adjacent name words ("pull request", "time off").
const BIGRAM: f32 = 0.4;
/// The query's leading verb agrees with the tool's action ("cancel …" → `*_cancel_*`/`*_delete_*`).
const INTENT: f32 = 0.6;
/// A matched name object agrees in grammatical number with the query word
/// ("open pull requests" → `list_pull_requests`, "the pull request" → `get_pull_request`).
const NUMBER: f32 = 0.35;
/// Weight of a tool action the query's leading verb asks for, as a variant of that verb.
const INTENT_TERM_WEIGHT: f32 = 0.4;
/// Words that open a yes/no question about a state ("is …", "did …", "are there …").
const QUESTION_AUXILIARIES: &[&str] = &["are", "did", "does", "has", "have", "is", "was", "were"];
/// How many leading query words are inspected for the intent verb.
const INTENT_WINDOW: usize = 4;
/// Shortest typed word that may be a misspelling of a catalog term.
const MIN_TYPO_LEN: usize = 4;
/// Shortest term (stem) that may be corrected: "isue" stems to "isu".
const MIN_TYPO_STEM: usize = 3;
/// Weight of a catalog term that extends a query term or that it extends ("deploy" and
/// "deployment", "config" and "configuration"), relative to the word the user typed.
const PREFIX_WEIGHT: f32 = 0.3;
/// Shortest shared prefix for that.
const MIN_PREFIX: usize = 4;
/// Longest extension for that, in characters: "deploy" → "deployment", not "deploymentconfig".
const MAX_PREFIX_EXTENSION: usize = 8;
/// The tool's action is one a request verb asks for, but not the one this query's verb asks
/// for ("get the DSN" → not `create_dsn`).
const INTENT_MISMATCH: f32 = 0.5;
/// Factor for tools of a service the query names ("… on GitHub").
const GROUP_CONTEXT: f32 = 1.5;
const EXACT_NAME_BONUS: f32 = 1.0e6;
const MENTIONED_NAME_BONUS: f32 = 1.0e5;

impl SearchIndex {
    fn name_doc(&self, by_name: &HashMap<String, usize>, word: &str) -> Option<usize> {
        by_name.get(word).copied().or_else(|| {
            self.lower_names
                .get(&word.to_ascii_lowercase())
                .map(|&d| d as usize)
        })
    }

    /// Query words written together that the catalog writes apart, or the reverse:
    /// "on-call" / "on call" → `oncall`, "paystub" → `pay` + `stub`.
    /// Returns the terms it split, which are no misspellings.
    fn add_compounds(
        &self,
        query: &str,
        terms: &mut Vec<String>,
        plural: &mut Vec<bool>,
    ) -> Vec<String> {
        let mut split_words = Vec::new();
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut push = |t: String, p: bool, terms: &mut Vec<String>| {
            if !terms.contains(&t) {
                terms.push(t);
                plural.push(p);
            }
        };
        for pair in words.windows(2) {
            for (a, b, meaning) in PHRASES {
                if pair[0] == *a && pair[1] == *b {
                    for m in *meaning {
                        push(stemmer().stem(m).into_owned(), false, terms);
                    }
                }
            }
        }
        for size in [2, 3] {
            for run in words.windows(size) {
                let joined = run.concat();
                let stem = stemmer().stem(&joined).into_owned();
                if self.vocab.contains_key(&stem) {
                    push(stem, is_plural(&joined), terms);
                }
            }
        }
        for w in &words {
            let stem = stemmer().stem(w);
            if w.len() < 6 || is_stop_word(w) || self.vocab.contains_key(stem.as_ref()) {
                continue;
            }
            let split = (3..=w.len() - 3)
                .filter(|&k| w.is_char_boundary(k))
                .find_map(|k| {
                    let (a, b) = (&w[..k], &w[k..]);
                    let (sa, sb) = (stemmer().stem(a), stemmer().stem(b));
                    (!is_stop_word(a)
                        && !is_stop_word(b)
                        && self.vocab.contains_key(sa.as_ref())
                        && self.vocab.contains_key(sb.as_ref()))
                    .then(|| (sa.into_owned(), sb.into_owned(), is_plural(b)))
                });
            if let Some((a, b, p)) = split {
                push(a, false, terms);
                push(b, p, terms);
                split_words.push(stem.into_owned());
            }
        }
        split_words
    }

    /// Misspelt words: a term the catalog does not know, with no known synonym, also stands
    /// for the closest catalog term within one edit (two for long words), the more frequent
    /// and then the alphabetically first on a tie.
    /// `long_words` holds the terms whose typed word has at least [`MIN_TYPO_LEN`] characters.
    fn add_corrections(
        &self,
        terms: &mut Vec<String>,
        plural: &mut Vec<bool>,
        split: &[String],
        long_words: &[String],
    ) {
        let syns = synonyms();
        let unknown: Vec<String> = terms
            .iter()
            .filter(|t| {
                long_words.contains(t)
                    && t.chars().count() >= MIN_TYPO_STEM
                    && !split.contains(t)
                    && !self.vocab.contains_key(t.as_str())
                    && ![syns, abbreviations()].iter().any(|map| {
                        map.get(t.as_str())
                            .is_some_and(|alts| alts.iter().any(|a| self.vocab.contains_key(a)))
                    })
            })
            .cloned()
            .collect();
        for word in unknown {
            let chars: Vec<char> = word.chars().collect();
            let max = if chars.len() >= 8 { 2 } else { 1 };
            let mut best: Option<(usize, usize, u32)> = None;
            // Misspellings seldom touch the first letter: only terms that share it are tried.
            let candidates = self
                .by_initial
                .get(&chars[0])
                .map_or(&[][..], Vec::as_slice);
            for &tid in candidates {
                let term = &self.term_chars[tid as usize];
                if term.len().abs_diff(chars.len()) > max || term.len() < MIN_TYPO_LEN {
                    continue;
                }
                let Some(dist) = edit_distance(&chars, term, max) else {
                    continue;
                };
                let df = self.postings[tid as usize].len();
                let better = best.is_none_or(|(bd, bdf, _)| dist < bd || (dist == bd && df > bdf));
                if better {
                    best = Some((dist, df, tid));
                }
            }
            if let Some((_, _, tid)) = best {
                let fixed = self.terms[tid as usize].clone();
                if !terms.contains(&fixed) {
                    if let Some(pos) = terms.iter().position(|t| *t == word) {
                        terms[pos] = fixed;
                    } else {
                        terms.push(fixed);
                        plural.push(false);
                    }
                }
            }
        }
    }

    /// Catalog terms that extend `term` ("deploy" → "deployment", "config" → "configur") or
    /// that it extends by at most as much as they share, sharing at least [`MIN_PREFIX`]
    /// characters: stems the stemmer leaves apart. Terms are sorted, so the extensions are
    /// one binary search away.
    fn prefix_relatives(&self, term: &str) -> Vec<u32> {
        let mut out = Vec::new();
        if term.len() < MIN_PREFIX || !term.is_ascii() {
            return out;
        }
        let start = self.terms.partition_point(|t| t.as_str() < term);
        for (i, t) in self.terms[start..].iter().enumerate() {
            if !t.starts_with(term) {
                break;
            }
            if t.len() > term.len() && t.len() <= term.len() + MAX_PREFIX_EXTENSION {
                out.push((start + i) as u32);
            }
        }
        for k in MIN_PREFIX..term.len() {
            if k * 2 >= term.len()
                && let Some(&tid) = self.vocab.get(&term[..k])
            {
                out.push(tid);
            }
        }
        out
    }

    /// The tool actions the query's leading verb asks for, with the verb's term: the first of
    /// its first few words that is a known request verb or some tool's action.
    fn intent(&self, query: &str) -> (Option<String>, Vec<u32>) {
        let table = intents();
        let syns = synonyms();
        let mut words = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty());
        let first = words.next().map(str::to_lowercase);
        if first
            .as_deref()
            .is_some_and(|w| QUESTION_AUXILIARIES.contains(&w))
        {
            // A yes/no question ("is my crawl finished?") asks to read a state.
            let show = stemmer().stem("show").into_owned();
            let actions = std::iter::once(&show)
                .chain(table.get(&show).into_iter().flatten())
                .filter_map(|t| self.vocab.get(t).copied())
                .collect();
            return (None, actions);
        }
        for word in first
            .iter()
            .map(String::as_str)
            .chain(words)
            .take(INTENT_WINDOW)
        {
            let stem = stemmer().stem(&word.to_lowercase()).into_owned();
            let tid = self.vocab.get(&stem).copied();
            let is_action = tid.is_some_and(|t| self.actions[t as usize]);
            let Some(mapped) = table.get(&stem) else {
                if is_action {
                    return (Some(stem), tid.into_iter().collect());
                }
                continue;
            };
            let actions = std::iter::once(&stem)
                .chain(mapped)
                .chain(syns.get(&stem).into_iter().flatten())
                .filter_map(|t| self.vocab.get(t).copied())
                .collect();
            return (Some(stem), actions);
        }
        (None, Vec::new())
    }

    /// Relative bonus from how well the query matches the tool's name: coverage of the name's
    /// words, adjacent word pairs, agreement of the leading verb with the tool's action, and
    /// agreement in number of the matched object words.
    fn name_boost(
        &self,
        d: usize,
        qterm: &HashMap<u32, (u64, f32)>,
        plural: &[bool],
        intent: &[u32],
    ) -> f32 {
        let words = &self.names[d].words;
        if words.is_empty() {
            return 0.0;
        }
        let mut covered = 0.0;
        let mut name_idf = 0.0f32;
        let mut bigrams = 0.0f32;
        let (mut agree, mut disagree) = (false, false);
        let mut prev: u64 = 0;
        for (i, &(tid, name_plural)) in words.iter().enumerate() {
            let (mask, w) = qterm.get(&tid).copied().unwrap_or((0, 0.0));
            let idf = self.idf[tid as usize];
            covered += w * idf;
            name_idf += idf;
            if (prev << 1) & mask != 0 || (mask << 1) & prev != 0 {
                bigrams += 1.0;
            }
            // Number is carried by the head noun, the name's last word (`list_pull_requests`).
            if i > 0 && i + 1 == words.len() && mask != 0 {
                for p in (0..plural.len().min(64)).filter(|p| mask & (1 << p) != 0) {
                    if plural[p] == name_plural {
                        agree = true;
                    } else {
                        disagree = true;
                    }
                }
            }
            prev = mask;
        }
        // The leading verb agreeing counts only with the object: "open the site" is no
        // request for every tool whose action is `open`.
        // The action is the first name word a request verb asks for, past a sub-prefix that
        // only some of the service's tools share (`kubectl_get` → `get`); else the first.
        let a = words
            .iter()
            .position(|(t, _)| self.request_actions[*t as usize])
            .unwrap_or(0);
        let action = words[a].0;
        let object_matched = words.len() == 1
            || words
                .iter()
                .enumerate()
                .any(|(i, (tid, _))| i != a && qterm.get(tid).is_some_and(|q| q.0 != 0));
        let intent_hit = object_matched && intent.contains(&action);
        let intent_miss = object_matched
            && !intent.is_empty()
            && !intent_hit
            && self.request_actions[action as usize];
        NAME_COVERAGE * covered / name_idf.max(f32::EPSILON)
            + BIGRAM * bigrams.min(2.0)
            + if intent_hit { INTENT } else { 0.0 }
            - if intent_miss { INTENT_MISMATCH } else { 0.0 }
            + match (agree, disagree) {
                (true, _) => NUMBER,
                (false, true) => -NUMBER,
                // No name word carries number: a request for things in the plural ("what
                // keys …") is one for a listing.
                (false, false) if object_matched && plural.iter().any(|&p| p) => {
                    if self.listing_actions.contains(&action) {
                        NUMBER
                    } else {
                        0.0
                    }
                }
                (false, false) => 0.0,
            }
    }

    pub(crate) fn search<'a>(
        &self,
        entries: &'a [ToolEntry],
        by_name: &HashMap<String, usize>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit<'a>>> {
        if limit == 0 || limit > MAX_SEARCH_LIMIT {
            return Err(Error::new(
                ErrorKind::InvalidLimit,
                format!(
                    "invalid search limit {limit}: must be between 1 and {}",
                    MAX_SEARCH_LIMIT
                ),
            ));
        }
        let trimmed = query.trim();
        if trimmed.is_empty() {
            return Err(Error::new(
                ErrorKind::EmptyQuery,
                "empty search query: describe the tool you need in a few words",
            ));
        }
        let chars = query.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(Error::new(
                ErrorKind::QueryTooLong,
                format!(
                    "search query too long: {chars} characters, at most {} allowed",
                    MAX_QUERY_CHARS
                ),
            ));
        }

        let n = entries.len();
        let mut scores = vec![0f32; n];

        // Exact tool names: the whole query, or a word of it.
        let strip = |w: &str| {
            w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
                .to_owned()
        };
        if let Some(d) = self.name_doc(by_name, &strip(trimmed)) {
            scores[d] += EXACT_NAME_BONUS;
        }
        for word in trimmed.split_whitespace() {
            if let Some(d) = self.name_doc(by_name, &strip(word)) {
                scores[d] += MENTIONED_NAME_BONUS;
            }
        }

        let mut terms: Vec<String> = Vec::new();
        let mut plural: Vec<bool> = Vec::new();
        // Identifiers by what they are ("notes.txt" → file), then words.
        let rewritten = rewrite_identifiers(trimmed);
        let text = rewritten.as_str();
        // Terms whose typed word is long enough to be taken for a misspelling.
        let mut long_words: Vec<String> = Vec::new();
        let mut add = |w: &str, t: String| {
            if w.chars().count() >= MIN_TYPO_LEN && !long_words.contains(&t) {
                long_words.push(t.clone());
            }
            if !terms.contains(&t) {
                terms.push(t);
                plural.push(is_plural(w));
            }
        };
        let mut content_words = false;
        tokenize_query(text, &mut |w, t| {
            // Bare numbers are identifiers ("PR 42"), not words a description shares.
            if !w.chars().all(|c| c.is_ascii_digit()) {
                content_words = true;
                add(w, t);
            }
        });
        if !content_words {
            // Only common words ("who am I"): search with the words given.
            tokenize_all(text, &mut add);
        }
        let split = self.add_compounds(text, &mut terms, &mut plural);
        self.add_corrections(&mut terms, &mut plural, &split, &long_words);
        terms.truncate(64);
        plural.truncate(64);
        let (verb, intent) = self.intent(text);

        let syns = synonyms();
        let mut matched = vec![0f32; n];
        let mut best_w = vec![0f32; n];
        let mut best = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        // Per term: which query positions it stands for (bit mask) and how strongly.
        let mut qterm: HashMap<u32, (u64, f32)> = HashMap::new();
        let groups = terms.len().max(1) as f32;
        // The leading verb goes last, so that its actions are matched only in tools that
        // match something else of the request.
        let verb_pos = verb
            .as_deref()
            .and_then(|v| terms.iter().position(|t| t == v));
        let order = (0..terms.len())
            .filter(|&p| Some(p) != verb_pos)
            .chain(verb_pos);
        for pos in order {
            let term = &terms[pos];
            touched.clear();
            let prefixed = self.prefix_relatives(term);
            // The leading verb also matches, weakly, the tool actions it asks for, in the names
            // of tools that have them and match another word ("file a ticket" →
            // `create_issue`).
            let actions: &[u32] = if Some(pos) == verb_pos { &intent } else { &[] };
            let variants = std::iter::once((term.as_str(), 1.0f32, false))
                .chain(
                    abbreviations()
                        .get(term)
                        .into_iter()
                        .flatten()
                        .map(|s| (s.as_str(), 1.0, false)),
                )
                .chain(
                    syns.get(term)
                        .into_iter()
                        .flatten()
                        .map(|s| (s.as_str(), SYNONYM_WEIGHT, false)),
                )
                .chain(
                    prefixed
                        .into_iter()
                        .map(|t| (self.terms[t as usize].as_str(), PREFIX_WEIGHT, false)),
                )
                .chain(
                    actions
                        .iter()
                        .map(|&t| (self.terms[t as usize].as_str(), INTENT_TERM_WEIGHT, true)),
                );
            for (variant, w, name_only) in variants {
                let Some(&tid) = self.vocab.get(variant) else {
                    continue;
                };
                let q = qterm.entry(tid).or_insert((0, 0.0));
                q.0 |= 1 << pos;
                q.1 = q.1.max(w);
                for &(d, s) in &self.postings[tid as usize] {
                    if name_only
                        && (matched[d as usize] == 0.0
                            || !self.names[d as usize].words.iter().any(|n| n.0 == tid))
                    {
                        continue;
                    }
                    let v = s * w;
                    let slot = &mut best[d as usize];
                    if *slot == 0.0 {
                        touched.push(d);
                    }
                    if v > *slot {
                        *slot = v;
                        best_w[d as usize] = w;
                    }
                }
            }
            for &d in &touched {
                let d = d as usize;
                scores[d] += best[d];
                best[d] = 0.0;
                matched[d] += best_w[d];
                best_w[d] = 0.0;
            }
        }

        // A service named in the query ("on GitHub") favours that service's tools.
        let in_context = |d: usize| {
            let g = &self.groups[d];
            !g.is_empty() && g.iter().all(|t| qterm.get(t).is_some_and(|q| q.1 >= 1.0))
        };
        let mut ranked: Vec<(f32, u32)> = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
            .map(|(d, &s)| {
                let coverage = matched[d] / groups;
                let boost = self.name_boost(d, &qterm, &plural, &intent);
                let context = if in_context(d) { GROUP_CONTEXT } else { 1.0 };
                (s * context * (1.0 + COVERAGE * coverage + boost), d as u32)
            })
            .collect();
        let cmp = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, cmp);
            ranked.truncate(limit);
        }
        ranked.sort_unstable_by(cmp);
        Ok(ranked
            .into_iter()
            .map(|(score, d)| Hit {
                entry: &entries[d as usize],
                score,
            })
            .collect())
    }
}

/// Damerau-Levenshtein distance (adjacent transpositions count one) between `a` and `b`, if it
/// is at most `max`.
fn edit_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    let (n, m) = (a.len(), b.len());
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= max).then_some(prev[m])
}

/// File extensions that make a word a file name ("notes.txt").
const FILE_EXTENSIONS: &[&str] = &[
    "bmp", "c", "cfg", "conf", "cpp", "csv", "doc", "docx", "env", "gif", "go", "h", "html", "ini",
    "java", "jpeg", "jpg", "json", "log", "md", "mp3", "mp4", "pdf", "png", "ppt", "pptx", "py",
    "rb", "rs", "sh", "sql", "svg", "toml", "tsv", "txt", "wav", "webp", "xls", "xlsx", "xml",
    "yaml", "yml", "zip",
];
/// Top-level domains that make a word a host name ("example.com").
const DOMAINS: &[&str] = &["app", "co", "com", "dev", "io", "net", "org"];

/// Replaces each identifier, whose inner words say nothing of the tool wanted ("notes" in
/// "notes.txt" is no note), by what it is: a URL by "url", an e-mail address by "email", a
/// file name or path by "file", a host name by "site domain". Other words are kept as typed.
pub(super) fn rewrite_identifiers(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for word in query.split_whitespace() {
        let w = word.trim_matches(|c: char| {
            matches!(
                c,
                ',' | ';' | ':' | '(' | ')' | '"' | '\'' | '?' | '!' | '`'
            )
        });
        let w = w.strip_suffix('.').unwrap_or(w);
        let ext = w.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let kind = if w.contains("://") || w.starts_with("www.") {
            Some("url")
        } else if w
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
        {
            Some("email")
        } else if ext.as_deref().is_some_and(|e| FILE_EXTENSIONS.contains(&e))
            || w.starts_with('/')
            || w.starts_with("~/")
            || w.starts_with("./")
        {
            Some("file")
        } else if ext.as_deref().is_some_and(|e| DOMAINS.contains(&e)) && !w.contains('/') {
            Some("site domain")
        } else {
            None
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(kind.unwrap_or(word));
    }
    out
}
