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
/// How many leading query words are inspected for the intent verb.
const INTENT_WINDOW: usize = 4;
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
    &["forecast", "rain", "snow", "temperature"],
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
    &["participant", "attendee", "attend", "attendance"],
];

/// Leading request verbs and the tool actions (first word of a tool name after its service
/// prefix) that carry them out. A verb always also matches itself and its synonym group.
const INTENTS: &[(&[&str], &[&str])] = &[
    (
        &[
            "show", "what", "whats", "which", "who", "whos", "list", "see", "view", "display",
            "check", "tell", "how", "get", "fetch", "find", "look", "give",
        ],
        &[
            "get", "list", "search", "query", "describe", "read", "find", "lookup", "fetch",
            "count",
        ],
    ),
    (
        &[
            "create", "add", "new", "make", "open", "start", "file", "write", "set", "spin",
            "register", "put", "draft", "cut",
        ],
        &[
            "create", "add", "make", "launch", "insert", "append", "invite", "write", "quick",
        ],
    ),
    (
        &[
            "delete", "remove", "erase", "destroy", "drop", "purge", "cancel", "trash", "wipe",
            "clear", "kill",
        ],
        &[
            "delete",
            "remove",
            "trash",
            "purge",
            "void",
            "cancel",
            "clear",
            "terminate",
            "abort",
        ],
    ),
    (
        &[
            "update",
            "edit",
            "change",
            "modify",
            "rename",
            "move",
            "set",
            "adjust",
            "mark",
            "reschedule",
        ],
        &[
            "update",
            "modify",
            "change",
            "set",
            "move",
            "adjust",
            "transition",
            "flag",
        ],
    ),
    (
        &[
            "stop",
            "shut",
            "halt",
            "abort",
            "pause",
            "cancel",
            "kill",
            "terminate",
        ],
        &["stop", "abort", "cancel", "terminate", "mute"],
    ),
    (
        &[
            "send", "post", "email", "text", "message", "notify", "ping", "reply", "forward",
            "publish", "tell", "dm",
        ],
        &["send", "post", "reply", "publish", "forward"],
    ),
    (
        &["share", "give", "grant", "assign", "hand"],
        &["share", "assign", "add"],
    ),
    (&["call", "phone", "dial", "ring"], &["make", "call"]),
    (
        &[
            "start", "run", "launch", "trigger", "kick", "begin", "execute",
        ],
        &["start", "run", "launch", "trigger", "execute", "invoke"],
    ),
    (
        &["restart", "rerun", "retry", "reboot"],
        &["restart", "rerun", "retry", "reboot"],
    ),
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
    tokenize_words(text, &mut |_, stem| emit(stem));
}

/// Whether a lower-case English word looks like a plural noun ("requests", "queries"), judged
/// on the surface form because stemming erases number.
pub(crate) fn is_plural(word: &str) -> bool {
    word.len() > 3
        && word.ends_with('s')
        && !["ss", "us", "is", "ous"].iter().any(|e| word.ends_with(e))
        && word.chars().all(|c| c.is_alphabetic())
}

/// Like [`tokenize`], but also passes each term's lower-case surface word.
pub(crate) fn tokenize_words(text: &str, emit: &mut impl FnMut(&str, String)) {
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
                let stem = stemmer().stem(&word).into_owned();
                emit(&word, stem);
            }
        }
    }
}

fn intents() -> &'static HashMap<String, Vec<String>> {
    static S: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    S.get_or_init(|| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (verbs, actions) in INTENTS {
            let mut stems: Vec<String> = Vec::new();
            for a in *actions {
                tokenize(a, &mut |t| stems.push(t));
            }
            for v in *verbs {
                let key = stemmer().stem(v).into_owned();
                let entry = map.entry(key).or_default();
                for a in &stems {
                    if !entry.contains(a) {
                        entry.push(a.clone());
                    }
                }
            }
        }
        map
    })
}

/// A tool's name, as index terms: the words after its service prefix, in order.
#[derive(Debug, Clone, Default)]
struct NameTerms {
    /// (term, surface word is plural), in name order.
    words: Vec<(u32, bool)>,
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
    /// Per document, its name's words (service prefix removed).
    names: Vec<NameTerms>,
    /// Terms that are the action (first name word) of some tool.
    actions: Vec<bool>,
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
        let mut names = Vec::with_capacity(n);
        let mut actions = vec![false; postings.len()];
        for e in entries {
            let mut group: Vec<String> = Vec::new();
            tokenize(e.group().unwrap_or_default(), &mut |t| group.push(t));
            let mut words = Vec::new();
            let mut prefix = true;
            tokenize_words(e.name(), &mut |w, t| {
                if prefix && group.contains(&t) {
                    return;
                }
                prefix = false;
                if let Some(&tid) = vocab.get(&t) {
                    words.push((tid, is_plural(w)));
                }
            });
            if let Some(&(tid, _)) = words.first() {
                actions[tid as usize] = true;
            }
            names.push(NameTerms { words });
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
            names,
            actions,
        }
    }

    fn name_doc(&self, by_name: &HashMap<String, usize>, word: &str) -> Option<usize> {
        by_name.get(word).copied().or_else(|| {
            self.lower_names
                .get(&word.to_ascii_lowercase())
                .map(|&d| d as usize)
        })
    }

    /// Query words written together that the catalog writes apart, or the reverse:
    /// "on-call" / "on call" → `oncall`, "paystub" → `pay` + `stub`.
    fn add_compounds(&self, query: &str, terms: &mut Vec<String>, plural: &mut Vec<bool>) {
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
            let joined = format!("{}{}", pair[0], pair[1]);
            let stem = stemmer().stem(&joined).into_owned();
            if self.vocab.contains_key(&stem) {
                push(stem, is_plural(&joined), terms);
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
            }
        }
    }

    /// The tool actions the query's leading verb asks for: the first of its first few words
    /// that is a known request verb or some tool's action.
    fn intent(&self, query: &str) -> Vec<u32> {
        let table = intents();
        let syns = synonyms();
        for word in query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(INTENT_WINDOW)
        {
            let stem = stemmer().stem(&word.to_lowercase()).into_owned();
            let tid = self.vocab.get(&stem).copied();
            let is_action = tid.is_some_and(|t| self.actions[t as usize]);
            let Some(mapped) = table.get(&stem) else {
                if is_action {
                    return tid.into_iter().collect();
                }
                continue;
            };
            return std::iter::once(&stem)
                .chain(mapped)
                .chain(syns.get(&stem).into_iter().flatten())
                .filter_map(|t| self.vocab.get(t).copied())
                .collect();
        }
        Vec::new()
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
        let mut bigrams = 0.0f32;
        let (mut agree, mut disagree) = (false, false);
        let mut prev: u64 = 0;
        for (i, &(tid, name_plural)) in words.iter().enumerate() {
            let (mask, w) = qterm.get(&tid).copied().unwrap_or((0, 0.0));
            covered += w;
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
        let intent_hit = intent.contains(&words[0].0);
        NAME_COVERAGE * covered / words.len() as f32
            + BIGRAM * bigrams.min(2.0)
            + if intent_hit { INTENT } else { 0.0 }
            + match (agree, disagree) {
                (true, _) => NUMBER,
                (false, true) => -NUMBER,
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
        let mut plural: Vec<bool> = Vec::new();
        tokenize_words(trimmed, &mut |w, t| {
            if !terms.contains(&t) {
                terms.push(t);
                plural.push(is_plural(w));
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
        self.add_compounds(trimmed, &mut terms, &mut plural);
        terms.truncate(64);
        plural.truncate(64);
        let intent = self.intent(trimmed);

        let syns = synonyms();
        let mut matched = vec![0u16; n];
        let mut best = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        // Per term: which query positions it stands for (bit mask) and how strongly.
        let mut qterm: HashMap<u32, (u64, f32)> = HashMap::new();
        let groups = terms.len().max(1) as f32;
        for (pos, term) in terms.iter().enumerate() {
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
                let q = qterm.entry(tid).or_insert((0, 0.0));
                q.0 |= 1 << pos;
                q.1 = q.1.max(w);
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
                let boost = self.name_boost(d, &qterm, &plural, &intent);
                (s * (1.0 + COVERAGE * coverage + boost), d as u32)
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
