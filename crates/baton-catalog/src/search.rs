//! BM25F ranking over a prebuilt inverted index.

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use serde_json::{Map, Value};

use crate::catalog::ToolEntry;
use crate::error::{Error, ErrorKind, Result};

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit<'a> {
    /// The matching tool.
    pub entry: &'a ToolEntry,
    /// Relevance score; higher is better. Only comparable within one search.
    pub score: f32,
}

impl Hit<'_> {
    /// The matching tool's name.
    pub fn name(&self) -> &str {
        self.entry.name()
    }
}

/// Field weights and length-normalisation strengths (BM25F).
#[derive(Clone, Copy)]
enum Field {
    Name,
    Title,
    Group,
    Tags,
    Description,
    ParamName,
    ParamDescription,
}

const FIELDS: usize = 7;

impl Field {
    fn weight(self) -> f32 {
        match self {
            Field::Name => 3.0,
            Field::Title => 1.5,
            Field::Group => 1.5,
            Field::Tags => 1.0,
            Field::Description => 1.5,
            Field::ParamName => 0.6,
            Field::ParamDescription => 0.4,
        }
    }
    fn b(self) -> f32 {
        match self {
            Field::Name | Field::Group | Field::Tags => 0.3,
            Field::Title | Field::ParamName => 0.5,
            Field::Description | Field::ParamDescription => 0.75,
        }
    }
}

const K1: f32 = 1.2;
/// Weight of a synonym relative to the word the user typed.
const SYNONYM_WEIGHT: f32 = 0.6;
/// How much a tool gains for matching a larger share of the query's terms.
const COVERAGE: f32 = 2.0;
const EXACT_NAME_BONUS: f32 = 1.0e6;
const MENTIONED_NAME_BONUS: f32 = 1.0e5;
const MAX_SCHEMA_DEPTH: usize = 4;

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

/// Groups of interchangeable words. Each word expands to the others at query time.
const SYNONYMS: &[&[&str]] = &[
    &["create", "add", "new", "make"],
    &["delete", "remove", "erase", "destroy", "drop", "purge"],
    &["update", "edit", "modify", "change", "patch", "rename"],
    &[
        "get", "fetch", "retrieve", "read", "show", "view", "lookup", "inspect", "describe",
    ],
    &["list", "enumerate", "browse"],
    &["search", "find", "query", "look", "locate"],
    &["send", "post", "deliver"],
    &["message", "msg", "chat", "dm"],
    &["email", "mail", "inbox"],
    &["user", "member", "person", "people", "account", "profile"],
    &["file", "document", "doc", "attachment"],
    &["folder", "directory", "dir"],
    &["repository", "repo", "codebase"],
    &["pull", "pr", "merge"],
    &["issue", "ticket", "bug", "task"],
    &["meeting", "event", "appointment"],
    &["invoice", "bill"],
    &["deploy", "deployment", "release", "ship", "rollout"],
    &["rollback", "revert", "undo"],
    &["vm", "instance", "server", "machine"],
    &["database", "db"],
    &["table", "relation"],
    &["cancel", "abort", "stop", "terminate", "halt", "kill"],
    &["start", "launch", "run", "trigger", "kick", "begin"],
    &["restart", "reboot", "retry", "rerun"],
    &["upload", "attach"],
    &["download", "export", "save"],
    &["directions", "route", "navigate", "navigation"],
    &["payment", "charge", "pay"],
    &["refund", "reimburse"],
    &["employee", "staff", "worker", "hire", "colleague"],
    &["customer", "client", "buyer"],
    &["alert", "alarm", "warning"],
    &["incident", "outage", "page"],
    &["metric", "measurement", "stat", "statistic", "timeseries"],
    &["log", "logs", "trace"],
    &["comment", "reply", "note", "respond"],
    &["assign", "delegate", "reassign"],
    &["close", "resolve", "complete", "finish"],
    &["invite", "onboard"],
    &["spreadsheet", "sheet", "workbook"],
    &["leave", "vacation", "pto", "holiday", "absence"],
    &["salary", "payroll", "compensation", "wage"],
    &["subscription", "plan", "recurring"],
    &["schedule", "book", "reserve"],
    &["availability", "free", "busy"],
    &["translate", "translation"],
    &["language", "locale"],
    &["address", "location", "place", "coordinates"],
    &["distance", "far"],
    &["dashboard", "report", "chart"],
    &["secret", "credential", "password", "token"],
    &["permission", "access", "share", "role"],
    &["channel", "room"],
    &["wiki", "page", "article", "knowledge"],
    &["notification", "notify", "ping"],
    &["sms", "text"],
    &["call", "phone", "dial"],
    &["weather", "forecast"],
    &["dns", "domain"],
    &["container", "pod"],
    &["bucket", "storage"],
    &["backup", "snapshot"],
    &["lead", "prospect"],
    &["deal", "opportunity"],
    &["company", "organization", "org"],
    &["group", "team"],
    &["tag", "label"],
    &["count", "many", "number", "total"],
    &["revenue", "sales", "income"],
    &["cost", "spend", "spending", "expense"],
    &["copy", "duplicate", "clone", "fork"],
    &["image", "picture", "photo"],
    &[
        "latitude",
        "lat",
        "longitude",
        "lng",
        "coordinates",
        "geocode",
    ],
    &["forecast", "rain", "snow", "temperature", "tomorrow"],
    &["shutdown", "stop", "power"],
    &["conversion", "funnel", "convert"],
    &["comment", "discussion", "conversation"],
    &["history", "recent", "past"],
    &["upgrade", "downgrade", "update"],
    &["seat", "quantity"],
    &["balance", "remaining", "left"],
    &["link", "relate", "block", "blocking"],
    &["calendar", "event", "agenda"],
    &["web", "internet", "online", "google"],
    &["reschedule", "move", "update"],
];

fn stemmer() -> &'static Stemmer {
    static S: OnceLock<Stemmer> = OnceLock::new();
    S.get_or_init(|| Stemmer::create(Algorithm::English))
}

#[cfg(test)]
pub(crate) const STOP_WORDS_FOR_TEST: &[&str] = STOP_WORDS;

fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

fn synonyms() -> &'static HashMap<String, Vec<String>> {
    static S: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    S.get_or_init(|| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for group in SYNONYMS {
            let mut stems: Vec<String> = Vec::new();
            for w in *group {
                tokenize(w, &mut |t| {
                    if !stems.contains(&t) {
                        stems.push(t);
                    }
                });
            }
            for s in &stems {
                let alts = map.entry(s.clone()).or_default();
                for o in &stems {
                    if o != s && !alts.contains(o) {
                        alts.push(o.clone());
                    }
                }
            }
        }
        map
    })
}

/// Splits text into lower-case, stop-word-free, stemmed terms. Words break at every
/// non-alphanumeric character and at camelCase boundaries (`getHTTPStatus` → get, http, status).
pub(crate) fn tokenize(text: &str, emit: &mut impl FnMut(String)) {
    let mut chars: Vec<char> = Vec::new();
    for run in text.split(|c: char| !c.is_alphanumeric()) {
        if run.is_empty() {
            continue;
        }
        chars.clear();
        chars.extend(run.chars());
        let mut start = 0;
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
                if is_stop_word(&word) {
                    continue;
                }
                emit(stemmer().stem(&word).into_owned());
            }
        }
    }
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
    vocab: HashMap<String, u32>,
    /// `postings[term]` = (document, idf-weighted saturated BM25F score), by document.
    postings: Vec<Vec<(u32, f32)>>,
    /// Lower-cased tool name → document.
    lower_names: HashMap<String, u32>,
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
            let texts: [(Field, String); FIELDS] = [
                (Field::Name, def.name.clone()),
                (Field::Title, def.title.clone().unwrap_or_default()),
                (Field::Group, e.group().unwrap_or_default().to_owned()),
                (Field::Tags, e.tags().join(" ")),
                (
                    Field::Description,
                    def.description.clone().unwrap_or_default(),
                ),
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
        for (term, mut list) in terms {
            list.sort_by_key(|p| p.0);
            let df = list.len() as f32;
            let idf = (1.0 + (n as f32 - df + 0.5) / (df + 0.5)).ln();
            for p in &mut list {
                p.1 = idf * p.1 * (K1 + 1.0) / (K1 + p.1);
            }
            vocab.insert(term, postings.len() as u32);
            postings.push(list);
        }
        let mut lower_names = HashMap::with_capacity(n);
        for (d, e) in entries.iter().enumerate() {
            lower_names
                .entry(e.name().to_ascii_lowercase())
                .or_insert(d as u32);
        }
        Self {
            vocab,
            postings,
            lower_names,
        }
    }

    fn name_doc(&self, by_name: &HashMap<String, usize>, word: &str) -> Option<usize> {
        by_name.get(word).copied().or_else(|| {
            self.lower_names
                .get(&word.to_ascii_lowercase())
                .map(|&d| d as usize)
        })
    }

    pub(crate) fn search<'a>(
        &self,
        entries: &'a [ToolEntry],
        by_name: &HashMap<String, usize>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit<'a>>> {
        if limit == 0 || limit > crate::MAX_SEARCH_LIMIT {
            return Err(Error::new(
                ErrorKind::InvalidLimit,
                format!(
                    "invalid search limit {limit}: must be between 1 and {}",
                    crate::MAX_SEARCH_LIMIT
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
        if chars > crate::MAX_QUERY_CHARS {
            return Err(Error::new(
                ErrorKind::QueryTooLong,
                format!(
                    "search query too long: {chars} characters, at most {} allowed",
                    crate::MAX_QUERY_CHARS
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
        let mut name_matched = false;
        if let Some(d) = self.name_doc(by_name, &strip(trimmed)) {
            scores[d] += EXACT_NAME_BONUS;
            name_matched = true;
        }
        for word in trimmed.split_whitespace() {
            if let Some(d) = self.name_doc(by_name, &strip(word)) {
                scores[d] += MENTIONED_NAME_BONUS;
                name_matched = true;
            }
        }

        let mut terms: Vec<String> = Vec::new();
        tokenize(trimmed, &mut |t| {
            if !terms.contains(&t) {
                terms.push(t);
            }
        });
        if terms.is_empty() && !name_matched {
            return Err(Error::new(
                ErrorKind::NoSearchableTerms,
                format!(
                    "search query {trimmed:?} has no searchable terms: use content words such as a verb and an object (\"create issue\")"
                ),
            ));
        }

        let syns = synonyms();
        let mut matched = vec![0u16; n];
        let mut best = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        let groups = terms.len().max(1) as f32;
        for term in &terms {
            touched.clear();
            let variants = std::iter::once((term.as_str(), 1.0f32)).chain(
                syns.get(term)
                    .into_iter()
                    .flatten()
                    .map(|s| (s.as_str(), SYNONYM_WEIGHT)),
            );
            for (variant, w) in variants {
                let Some(&tid) = self.vocab.get(variant) else {
                    continue;
                };
                for &(d, s) in &self.postings[tid as usize] {
                    let v = s * w;
                    let slot = &mut best[d as usize];
                    if *slot == 0.0 {
                        touched.push(d);
                    }
                    if v > *slot {
                        *slot = v;
                    }
                }
            }
            for &d in &touched {
                let d = d as usize;
                scores[d] += best[d];
                best[d] = 0.0;
                matched[d] += 1;
            }
        }

        let mut ranked: Vec<(f32, u32)> = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
            .map(|(d, &s)| {
                let coverage = f32::from(matched[d]) / groups;
                (s * (1.0 + COVERAGE * coverage), d as u32)
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
