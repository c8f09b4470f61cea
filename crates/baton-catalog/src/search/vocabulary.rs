//! Hand-written vocabulary: general English and software synonyms, common software
//! abbreviations, and request verbs.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::text::{stemmer, tokenize};

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
    &["count", "number", "total"],
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
    &["history", "recent", "past", "latest", "newest", "changelog"],
    &["save", "write", "store"],
    &["remember", "memorize", "memory", "recall"],
    &["note", "observation", "fact", "remark"],
    &["javascript", "js", "script"],
    &["elevation", "altitude", "height"],
    &["navigate", "visit", "goto"],
    &["associate", "association", "relate", "relation", "link"],
    &["documentation", "docs", "guide", "manual", "tutorial"],
    &["travel", "drive", "driving", "commute", "trip", "journey"],
    &["size", "disk", "space", "bytes"],
    &["version", "revision"],
    &["transition", "status"],
    &["batch", "bulk", "multiple"],
    &["acknowledge", "ack"],
    &["dispute", "chargeback"],
    &["upgrade", "downgrade", "update"],
    &["seat", "quantity"],
    &["balance", "remaining", "left"],
    &["link", "relate", "block", "blocking"],
    &["calendar", "event", "agenda"],
    &["web", "internet", "online", "google"],
    &["reschedule", "move", "update"],
    &["participant", "attendee", "attend", "attendance"],
    // Common verbs and nouns of software, written as a general thesaurus would list them.
    &["show", "display", "print", "output", "render"],
    &["check", "verify", "validate", "inspect"],
    &["combine", "merge", "join"],
    &["approve", "accept", "confirm"],
    &["reject", "decline", "deny", "refuse"],
    &["publish", "release"],
    &["archive", "shelve"],
    &["restore", "recover", "undelete"],
    &["compare", "diff", "difference"],
    &["watch", "monitor", "track", "observe"],
    &["scrape", "crawl", "extract"],
    &["screenshot", "capture", "screengrab"],
    &["click", "press", "tap"],
    &["summarize", "summary", "overview"],
    &["sort", "order", "rank"],
    &["filter", "narrow"],
    &["subscribe", "follow"],
    &["mute", "silence", "snooze"],
    &["pin", "star", "favorite", "bookmark"],
    &["explain", "describe", "clarify"],
    &["install", "setup", "configure"],
    &["login", "signin", "authenticate"],
    &["logout", "signout"],
    &["connect", "attach"],
    &["disconnect", "detach", "unlink"],
    &["resize", "scale"],
    &["import", "load", "ingest"],
    &["wait", "sleep", "pause"],
    &["error", "exception", "crash"],
    &["owner", "author", "creator"],
    &["config", "configuration", "settings", "preferences"],
    &["identifier", "id", "key"],
    &["status", "state", "health"],
    &["average", "mean"],
    &["maximum", "max", "highest"],
    &["minimum", "min", "lowest"],
    &["current", "now", "present"],
    &["enable", "activate"],
    &["disable", "deactivate"],
    &["move", "transfer", "relocate"],
    &["price", "pricing", "fee", "rate"],
    &["shipment", "delivery", "shipping"],
    &["video", "clip", "recording"],
    &["content", "body", "text"],
    &["thread", "conversation"],
    &["analyze", "analyse", "examine", "investigate"],
    &["calculate", "compute", "estimate"],
    &["usage", "consumption", "utilization"],
    &["limit", "quota"],
    &["fix", "repair"],
    &["ask", "inquire", "question"],
    &["obtain", "get"],
    &["organisation", "organization"],
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
            // REST verbs, as API-generated tool names use them (`API-post-page`).
            "post",
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
            "patch",
            "put",
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
        &["open", "visit", "load", "browse"],
        &["navigate", "read", "open"],
    ),
    (
        &["restart", "rerun", "retry", "reboot"],
        &["restart", "rerun", "retry", "reboot"],
    ),
];

/// Narrower words and the broader words they also stand for (one way: a request for "a
/// dentist" wants a business search, a request for "a business" does not want dentists).
const BROADER: &[(&[&str], &[&str])] = &[
    (
        &[
            "restaurant",
            "cafe",
            "coffee",
            "pizza",
            "bar",
            "dentist",
            "doctor",
            "clinic",
            "hospital",
            "hotel",
            "pharmacy",
            "bakery",
            "gym",
            "shop",
            "supermarket",
            "bank",
        ],
        &["business", "place", "local"],
    ),
    (
        &["progress", "todo", "backlog", "done"],
        &["status", "transition"],
    ),
    (
        &[
            "pod",
            "deployment",
            "namespace",
            "configmap",
            "daemonset",
            "statefulset",
            "replicaset",
            "ingress",
            "cronjob",
            "job",
            "node",
        ],
        &["resource"],
    ),
    (&["paragraph", "heading", "bullet"], &["block", "content"]),
    (&["ls", "dir"], &["list", "directory"]),
    (&["mkdir"], &["create", "directory"]),
    (&["rm"], &["delete", "remove"]),
    (&["cat"], &["read", "file"]),
    (&["url", "urls", "link", "links"], &["page", "site"]),
    (
        &["money", "cash", "funds"],
        &["balance", "payment", "amount"],
    ),
];

/// Common software abbreviations and what they stand for: general vocabulary, not chosen from
/// any catalog or request set. An abbreviation expands to its words at full weight (they mean
/// the same: "k8s" names the Kubernetes service as well as "kubernetes" does); a one-word
/// expansion also expands back to the abbreviation.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("addr", "address"),
    ("admin", "administrator"),
    ("app", "application"),
    ("arg", "argument"),
    ("args", "arguments"),
    ("attr", "attribute"),
    ("btn", "button"),
    ("cfg", "configuration"),
    ("conf", "configuration"),
    ("config", "configuration"),
    ("dep", "dependency"),
    ("deps", "dependencies"),
    ("desc", "description"),
    ("dev", "development"),
    ("env", "environment"),
    ("err", "error"),
    ("exec", "execute"),
    ("id", "identifier"),
    ("img", "image"),
    ("info", "information"),
    ("k8s", "kubernetes"),
    ("kube", "kubernetes"),
    ("lib", "library"),
    ("mr", "merge request"),
    ("nav", "navigation"),
    ("ns", "namespace"),
    ("num", "number"),
    ("param", "parameter"),
    ("params", "parameters"),
    ("passwd", "password"),
    ("pic", "picture"),
    ("pkg", "package"),
    ("prod", "production"),
    ("pwd", "password"),
    ("py", "python"),
    ("qty", "quantity"),
    ("repo", "repository"),
    ("req", "request"),
    ("resp", "response"),
    ("src", "source"),
    ("stg", "staging"),
    ("sync", "synchronize"),
    ("tmp", "temporary"),
    ("vid", "video"),
];

/// Two-word phrases whose meaning their words do not carry alone ("how many" is a count,
/// "money back" a refund), and the terms they add to the request.
pub(super) const PHRASES: &[(&str, &str, &[&str])] = &[
    ("how", "many", &["count", "number"]),
    ("how", "much", &["amount", "total"]),
    ("how", "long", &["time", "duration"]),
    ("how", "far", &["distance"]),
    ("money", "back", &["refund"]),
    ("pay", "back", &["refund"]),
    ("sea", "level", &["elevation"]),
    ("look", "up", &["search", "get"]),
    ("set", "up", &["setup", "configure", "create"]),
    ("pay", "out", &["payout", "balance"]),
    ("catch", "up", &["recent", "history"]),
    ("go", "to", &["navigate"]),
    ("sign", "in", &["login", "authenticate"]),
    ("log", "in", &["login", "authenticate"]),
    ("logged", "in", &["authenticated", "user"]),
    ("who", "am", &["authenticated", "user", "whoami"]),
];

fn push_alt(map: &mut HashMap<String, Vec<String>>, from: &str, to: &str) {
    let alts = map.entry(from.to_owned()).or_default();
    if !alts.iter().any(|a| a == to) {
        alts.push(to.to_owned());
    }
}

pub(super) fn synonyms() -> &'static HashMap<String, Vec<String>> {
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
        for (narrow, broad) in BROADER {
            let mut broad_stems = Vec::new();
            for w in *broad {
                tokenize(w, &mut |t| broad_stems.push(t));
            }
            for w in *narrow {
                tokenize(w, &mut |t| {
                    let alts = map.entry(t).or_default();
                    for b in &broad_stems {
                        if !alts.contains(b) {
                            alts.push(b.clone());
                        }
                    }
                });
            }
        }
        map
    })
}

/// Abbreviations and their words, both ways, as terms: the same meaning, matched at full
/// weight.
pub(super) fn abbreviations() -> &'static HashMap<String, Vec<String>> {
    static S: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    S.get_or_init(|| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (abbr, expansion) in ABBREVIATIONS {
            let mut words = Vec::new();
            tokenize(expansion, &mut |t| words.push(t));
            tokenize(abbr, &mut |a| {
                for w in &words {
                    if *w != a {
                        push_alt(&mut map, &a, w);
                        if words.len() == 1 {
                            push_alt(&mut map, w, &a);
                        }
                    }
                }
            });
        }
        map
    })
}

pub(super) fn intents() -> &'static HashMap<String, Vec<String>> {
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
