//! The inverted index, built once per catalog.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::text::{is_plural, stemmer, tokenize, tokenize_words};
use super::vocabulary::intents;
use crate::entry::ToolEntry;

/// Field weights and length-normalisation strengths (BM25F).
#[derive(Clone, Copy)]
enum Field {
    Name,
    Title,
    Group,
    Tags,
    /// The description's first sentence: what the tool does, before usage notes.
    Summary,
    /// The rest of the description.
    Description,
    ParamName,
    ParamDescription,
}

const FIELDS: usize = 8;

impl Field {
    fn weight(self) -> f32 {
        match self {
            Field::Name => 3.0,
            Field::Title => 1.5,
            Field::Group => 1.5,
            Field::Tags => 1.0,
            Field::Summary => 3.5,
            Field::Description => 0.8,
            Field::ParamName => 0.6,
            Field::ParamDescription => 0.4,
        }
    }
    fn b(self) -> f32 {
        match self {
            Field::Name | Field::Group | Field::Tags => 0.3,
            Field::Title | Field::ParamName => 0.5,
            Field::Summary | Field::Description | Field::ParamDescription => 0.75,
        }
    }
}

pub(super) const K1: f32 = 1.2;
const MAX_SCHEMA_DEPTH: usize = 4;

/// A tool's name, as index terms: the words after its service prefix, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct NameTerms {
    /// (term, surface word is plural), in name order.
    pub(super) words: Vec<(u32, bool)>,
}

/// Splits a description after its first sentence (at ". ", "! ", "? " or a line break, past
/// a few characters), skipping leading whitespace.
fn split_summary(description: &str) -> (&str, &str) {
    let text = description.trim_start();
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate().skip(8) {
        let end = match b {
            b'\n' => true,
            b'.' | b'!' | b'?' => bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace()),
            _ => false,
        };
        if end {
            return (&text[..=i], &text[i + 1..]);
        }
    }
    (text, "")
}

fn walk_schema(schema: &Map<String, Value>, depth: usize, names: &mut String, descs: &mut String) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (name, prop) in props {
            names.push_str(name);
            names.push(' ');
            if let Value::Object(p) = prop {
                for key in ["title", "description"] {
                    if let Some(Value::String(s)) = p.get(key) {
                        descs.push_str(s);
                        descs.push(' ');
                    }
                }
                if let Some(Value::Array(values)) = p.get("enum") {
                    for v in values {
                        if let Value::String(s) = v {
                            descs.push_str(s);
                            descs.push(' ');
                        }
                    }
                }
                walk_schema(p, depth + 1, names, descs);
            }
        }
    }
    if let Some(Value::Object(items)) = schema.get("items") {
        walk_schema(items, depth + 1, names, descs);
    }
}

/// Inverted index with per-posting precomputed BM25F contributions.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchIndex {
    pub(super) vocab: HashMap<String, u32>,
    /// Terms by id (ids are assigned in term order).
    pub(super) terms: Vec<String>,
    /// Terms by id, as characters (for spelling correction).
    pub(super) term_chars: Vec<Vec<char>>,
    /// Term ids by first character, in id order.
    pub(super) by_initial: HashMap<char, Vec<u32>>,
    /// Inverse document frequency by term id.
    pub(super) idf: Vec<f32>,
    /// `postings[term]` = (document, idf-weighted saturated BM25F score), by document.
    pub(super) postings: Vec<Vec<(u32, f32)>>,
    /// Lower-cased tool name → document.
    pub(super) lower_names: HashMap<String, u32>,
    /// Per document, its name's words (service prefix removed).
    pub(super) names: Vec<NameTerms>,
    /// Terms that are the action (first name word) of some tool.
    pub(super) actions: Vec<bool>,
    /// Terms that are actions a request verb asks for (`create`, `get`, `post`, …): a tool's
    /// action is the first of its name words that is one (`kubectl_get` → `get`).
    pub(super) request_actions: Vec<bool>,
    /// Per document, its group's terms.
    pub(super) groups: Vec<Vec<u32>>,
    /// Terms of the actions that answer with many things: list, search, find, query.
    pub(super) listing_actions: Vec<u32>,
}

impl SearchIndex {
    pub(crate) fn build(entries: &[ToolEntry]) -> Self {
        let n = entries.len();
        // per document, per field: term -> tf; plus field lengths
        let mut doc_fields: Vec<[HashMap<String, u32>; FIELDS]> = Vec::with_capacity(n);
        let mut lengths: Vec<[u32; FIELDS]> = Vec::with_capacity(n);
        for e in entries {
            let def = e.definition();
            let mut params = String::new();
            let mut param_descs = String::new();
            walk_schema(&def.input_schema, 0, &mut params, &mut param_descs);
            let (summary, rest) = split_summary(def.description.as_deref().unwrap_or_default());
            let texts: [(Field, String); FIELDS] = [
                (Field::Name, def.name.clone()),
                (Field::Title, def.title.clone().unwrap_or_default()),
                (Field::Group, e.group().unwrap_or_default().to_owned()),
                (Field::Tags, e.tags().join(" ")),
                (Field::Summary, summary.to_owned()),
                (Field::Description, rest.to_owned()),
                (Field::ParamName, params),
                (Field::ParamDescription, param_descs),
            ];
            let mut tfs: [HashMap<String, u32>; FIELDS] = Default::default();
            let mut lens = [0u32; FIELDS];
            for (i, (_, text)) in texts.iter().enumerate() {
                tokenize(text, &mut |t| {
                    *tfs[i].entry(t).or_insert(0) += 1;
                    lens[i] += 1;
                });
            }
            doc_fields.push(tfs);
            lengths.push(lens);
        }
        let mut avg = [0f32; FIELDS];
        for lens in &lengths {
            for (a, l) in avg.iter_mut().zip(lens) {
                *a += *l as f32;
            }
        }
        for a in &mut avg {
            *a = if n == 0 {
                1.0
            } else {
                (*a / n as f32).max(1.0)
            };
        }
        let fields = [
            Field::Name,
            Field::Title,
            Field::Group,
            Field::Tags,
            Field::Summary,
            Field::Description,
            Field::ParamName,
            Field::ParamDescription,
        ];
        // term -> (doc -> weighted tf)
        let mut acc: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        for (d, tfs) in doc_fields.iter().enumerate() {
            let mut per_doc: HashMap<&str, f32> = HashMap::new();
            for (fi, field) in fields.iter().enumerate() {
                let norm = 1.0 - field.b() + field.b() * lengths[d][fi] as f32 / avg[fi];
                for (term, tf) in &tfs[fi] {
                    *per_doc.entry(term.as_str()).or_insert(0.0) +=
                        field.weight() * *tf as f32 / norm;
                }
            }
            for (term, tfw) in per_doc {
                acc.entry(term.to_owned())
                    .or_default()
                    .push((d as u32, tfw));
            }
        }
        let mut terms: Vec<(String, Vec<(u32, f32)>)> = acc.into_iter().collect();
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        let mut vocab = HashMap::with_capacity(terms.len());
        let mut postings = Vec::with_capacity(terms.len());
        let mut term_list = Vec::with_capacity(terms.len());
        let mut idfs = Vec::with_capacity(terms.len());
        for (term, mut list) in terms {
            list.sort_by_key(|p| p.0);
            let df = list.len() as f32;
            let idf = (1.0 + (n as f32 - df + 0.5) / (df + 0.5)).ln();
            for p in &mut list {
                p.1 = idf * p.1 * (K1 + 1.0) / (K1 + p.1);
            }
            vocab.insert(term.clone(), postings.len() as u32);
            term_list.push(term);
            idfs.push(idf);
            postings.push(list);
        }
        let group_terms: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let mut group = Vec::new();
                tokenize(e.group().unwrap_or_default(), &mut |t| group.push(t));
                group
            })
            .collect();
        let name_words: Vec<NameWords> = entries
            .iter()
            .zip(&group_terms)
            .map(|(e, group)| {
                let mut words = Vec::new();
                let mut prefix = true;
                tokenize_words(e.name(), &mut |w, t| {
                    if prefix && group.contains(&t) {
                        return;
                    }
                    prefix = false;
                    words.push((w.to_owned(), t));
                });
                words
            })
            .collect();
        let shared = shared_name_prefixes(&group_terms, &name_words);
        let mut names = Vec::with_capacity(n);
        let mut actions = vec![false; postings.len()];
        for (d, words) in name_words.iter().enumerate() {
            let skip = shared
                .get(&group_terms[d])
                .copied()
                .unwrap_or(0)
                .min(words.len().saturating_sub(1));
            let words: Vec<(u32, bool)> = words[skip..]
                .iter()
                .filter_map(|(w, t)| vocab.get(t).map(|&tid| (tid, is_plural(w))))
                .collect();
            if let Some(&(tid, _)) = words.first() {
                actions[tid as usize] = true;
            }
            names.push(NameTerms { words });
        }
        let groups = group_terms
            .iter()
            .map(|g| g.iter().filter_map(|t| vocab.get(t).copied()).collect())
            .collect();
        let mut request_actions = vec![false; postings.len()];
        for t in intents().values().flatten() {
            if let Some(&tid) = vocab.get(t) {
                request_actions[tid as usize] = true;
            }
        }
        let mut lower_names = HashMap::with_capacity(n);
        for (d, e) in entries.iter().enumerate() {
            lower_names
                .entry(e.name().to_ascii_lowercase())
                .or_insert(d as u32);
        }
        let term_chars: Vec<Vec<char>> = term_list.iter().map(|t| t.chars().collect()).collect();
        let mut by_initial: HashMap<char, Vec<u32>> = HashMap::new();
        for (tid, chars) in term_chars.iter().enumerate() {
            if let Some(&c) = chars.first() {
                by_initial.entry(c).or_default().push(tid as u32);
            }
        }
        let listing_actions = ["list", "search", "find", "query"]
            .iter()
            .filter_map(|w| vocab.get(stemmer().stem(w).as_ref()).copied())
            .collect();
        Self {
            listing_actions,
            vocab,
            term_chars,
            by_initial,
            terms: term_list,
            idf: idfs,
            postings,
            lower_names,
            names,
            actions,
            request_actions,
            groups,
        }
    }
}

/// A tool name's words after its group prefix: (lower-case word, term).
type NameWords = Vec<(String, String)>;

/// Per group of three or more tools, how many leading name words (after the group prefix) all
/// of its tools share: a second service prefix such as `API-` or `browser_`, which is no action.
fn shared_name_prefixes(
    group_terms: &[Vec<String>],
    name_words: &[NameWords],
) -> HashMap<Vec<String>, usize> {
    let mut by_group: HashMap<&Vec<String>, Vec<&NameWords>> = HashMap::new();
    for (g, words) in group_terms.iter().zip(name_words) {
        if !g.is_empty() {
            by_group.entry(g).or_default().push(words);
        }
    }
    let mut out = HashMap::new();
    for (g, names) in by_group {
        if names.len() < 3 {
            continue;
        }
        let mut k = 0;
        while names
            .iter()
            .all(|w| w.len() > k + 1 && w[k].1 == names[0][k].1)
        {
            k += 1;
        }
        if k > 0 {
            out.insert(g.clone(), k);
        }
    }
    out
}
