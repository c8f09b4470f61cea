//! Tool arguments, their JSON Schemas and their validation.

use serde::{Deserialize, Serialize};

use crate::{ResearchStatus, ShareRight, ToolError, schema::plain_integer};

/// Limits enforced on tool arguments. Servers read them from configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest topic, in characters, after trimming.
    pub max_topic_chars: usize,
    /// Most findings one `add_findings` or `complete_research_task` call may carry.
    pub max_findings_per_call: usize,
    /// Longest finding, in characters.
    pub max_finding_chars: usize,
    /// Most findings one task may hold in total.
    pub max_findings_per_task: u32,
    /// Page size used when a paginated call gives no `limit`.
    pub default_page_size: u32,
    /// Largest `limit` a paginated call may ask for. The argument schemas publish
    /// [`MAX_PAGE_SIZE`] as `limit`'s `maximum`, so servers keep this at that default.
    pub max_page_size: u32,
    /// Longest idempotency key, in characters.
    pub max_idempotency_key_chars: usize,
    /// Most live research tasks one principal may hold.
    pub max_live_tasks_per_principal: u64,
    /// Most bytes (UTF-8) of findings one principal's tasks may hold together.
    pub max_stored_bytes_per_principal: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_topic_chars: 500,
            max_findings_per_call: 100,
            max_finding_chars: 4_000,
            max_findings_per_task: 10_000,
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: MAX_PAGE_SIZE,
            max_idempotency_key_chars: 255,
            max_live_tasks_per_principal: 100_000,
            max_stored_bytes_per_principal: 1 << 30,
        }
    }
}

/// Page size used when a paginated call gives no `limit` ([`Limits::default_page_size`]).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest `limit` a paginated call may ask for ([`Limits::max_page_size`]); the argument
/// schemas publish it as the `limit` property's `maximum`.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Smallest and largest research depth.
pub const DEPTH_RANGE: std::ops::RangeInclusive<u8> = 1..=5;
/// Depth used when the caller gives none.
pub const DEFAULT_DEPTH: u8 = 2;

fn default_depth_schema() -> Option<u8> {
    Some(DEFAULT_DEPTH)
}

/// Arguments of `start_research_task`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartResearchTask {
    /// What to research: 1 to 500 characters; surrounding whitespace is trimmed.
    pub topic: String,
    /// How deep to research, from 1 (skim) to 5 (exhaustive). Defaults to 2.
    #[serde(default)]
    #[schemars(
        default = "default_depth_schema",
        range(min = *DEPTH_RANGE.start(), max = *DEPTH_RANGE.end()),
        transform = plain_integer
    )]
    pub depth: Option<u8>,
    /// Optional key for safe retries (1-255 visible ASCII characters): a repeated key returns the task the first call created.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `start_research_task` arguments after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidStart {
    /// The trimmed topic.
    pub topic: String,
    /// The depth, defaulted.
    pub depth: u8,
    /// The idempotency key, if any.
    pub idempotency_key: Option<String>,
}

impl StartResearchTask {
    /// Checks every field and returns the normalised arguments, or an error naming the field.
    pub fn validate(&self, limits: &Limits) -> Result<ValidStart, ToolError> {
        let topic = self.topic.trim();
        if topic.is_empty() {
            return Err(ToolError::invalid("topic", "must not be blank"));
        }
        let chars = topic.chars().count();
        if chars > limits.max_topic_chars {
            return Err(ToolError::invalid(
                "topic",
                format!(
                    "must be at most {} characters, got {chars}",
                    limits.max_topic_chars
                ),
            ));
        }
        let depth = self.depth.unwrap_or(DEFAULT_DEPTH);
        if !DEPTH_RANGE.contains(&depth) {
            return Err(ToolError::invalid(
                "depth",
                format!(
                    "must be between {} and {}, got {depth}",
                    DEPTH_RANGE.start(),
                    DEPTH_RANGE.end()
                ),
            ));
        }
        if let Some(key) = &self.idempotency_key {
            validate_idempotency_key(key, limits)?;
        }
        Ok(ValidStart {
            topic: topic.to_owned(),
            depth,
            idempotency_key: self.idempotency_key.clone(),
        })
    }
}

/// Checks an `idempotency_key` argument: 1 to `max_idempotency_key_chars` visible ASCII
/// characters.
pub fn validate_idempotency_key(key: &str, limits: &Limits) -> Result<(), ToolError> {
    let n = key.chars().count();
    if n == 0 || n > limits.max_idempotency_key_chars {
        return Err(ToolError::invalid(
            "idempotency_key",
            format!(
                "must be 1 to {} characters, got {n}",
                limits.max_idempotency_key_chars
            ),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ToolError::invalid(
            "idempotency_key",
            "must contain only visible ASCII characters (no spaces)",
        ));
    }
    Ok(())
}

/// Arguments of the tools that take only a handle (`get_task_status`, `cancel_research_task`).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandleArgs {
    /// The task handle returned by `start_research_task` (starts with `task_`), or a
    /// delegated handle shared with you (starts with `dtask_`).
    pub handle: String,
}

/// Arguments of `compile_research_report`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompileResearchReport {
    /// The research tasks to merge, by handle (`task_…`, or a `dtask_…` shared with you):
    /// 1 to 20, each once.
    #[schemars(length(min = 1, max = 20))]
    pub handles: Vec<String>,
    /// The most distinct findings the report lists (1-5000, default 1000), most repeated
    /// first; the counts cover every finding read.
    #[serde(default)]
    #[schemars(range(min = 1, max = 5000), transform = plain_integer)]
    pub max_findings: Option<u32>,
}

/// Arguments of `add_findings`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFindings {
    /// The task handle returned by `start_research_task`.
    pub handle: String,
    /// Findings to append, in order: at least one non-blank string (the tool description
    /// gives this server's limits).
    pub findings: Vec<String>,
    /// Optional key for safe retries (1-255 visible ASCII characters, unique per task): a
    /// repeated key with the same findings stores them once and returns the first call's
    /// result.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Arguments of `complete_research_task`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteResearchTask {
    /// The task handle returned by `start_research_task`.
    pub handle: String,
    /// Final findings, appended after any added earlier with `add_findings`; may be empty.
    pub findings: Vec<String>,
}

/// Arguments of `get_task_results`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTaskResults {
    /// The task handle returned by `start_research_task`.
    pub handle: String,
    /// `next_cursor` from the previous page; omit it for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200. Defaults to 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_PAGE_SIZE), transform = plain_integer)]
    pub limit: Option<u32>,
}

/// Arguments of `list_research_tasks`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListResearchTasks {
    /// Only tasks in this status; omit it for all.
    #[serde(default)]
    pub status: Option<ResearchStatus>,
    /// `next_cursor` from the previous page; omit it for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200. Defaults to 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_PAGE_SIZE), transform = plain_integer)]
    pub limit: Option<u32>,
}

/// Shortest life of a share, in seconds.
pub const MIN_SHARE_EXPIRES_IN: u64 = 60;
/// Longest life of a share, in seconds (7 days).
pub const MAX_SHARE_EXPIRES_IN: u64 = 7 * 24 * 3600;
/// Life of a share when the caller gives none, in seconds (1 day).
pub const DEFAULT_SHARE_EXPIRES_IN: u64 = 24 * 3600;
/// Longest principal name a share may name, in bytes.
pub const MAX_PRINCIPAL_BYTES: usize = 255;

/// Arguments of `share_research_task`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareResearchTask {
    /// The task's handle: yours, or a delegated handle shared with you that allows
    /// re-sharing.
    pub handle: String,
    /// The principal to share with, exactly as baton identifies it (an API key's
    /// principal, or an access token's `sub`).
    pub principal: String,
    /// What the delegate may do: `read` (status and findings), `append` (read, and
    /// add_findings) or `complete` (append, and complete or cancel). At most what you hold.
    pub rights: ShareRight,
    /// Seconds the share lasts, 60 to 604800 (default 86400). Capped by the task's own
    /// life and, for a re-share, by the life of the share it is made from.
    #[serde(default)]
    #[schemars(range(min = 60, max = 604_800), transform = plain_integer)]
    pub expires_in: Option<u64>,
    /// Whether the delegate may share the task onward (never with more rights or a longer
    /// life than it holds). Default false.
    #[serde(default)]
    pub allow_reshare: Option<bool>,
}

/// A valid `share_research_task` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidShare {
    /// The delegate.
    pub principal: String,
    /// The rights asked for.
    pub rights: ShareRight,
    /// The life asked for, in seconds.
    pub expires_in: u64,
    /// Whether the delegate may share onward.
    pub allow_reshare: bool,
}

impl ShareResearchTask {
    /// Checks the arguments (not the handle), naming the field on error.
    pub fn validate(&self) -> Result<ValidShare, ToolError> {
        let principal = self.principal.as_str();
        if principal.trim().is_empty() {
            return Err(ToolError::invalid("principal", "must not be empty"));
        }
        if principal.len() > MAX_PRINCIPAL_BYTES {
            return Err(ToolError::invalid(
                "principal",
                format!(
                    "has {} bytes; the limit is {MAX_PRINCIPAL_BYTES}",
                    principal.len()
                ),
            ));
        }
        if principal.trim() != principal || principal.chars().any(char::is_control) {
            return Err(ToolError::invalid(
                "principal",
                "must not have surrounding spaces or control characters",
            ));
        }
        let expires_in = self.expires_in.unwrap_or(DEFAULT_SHARE_EXPIRES_IN);
        if !(MIN_SHARE_EXPIRES_IN..=MAX_SHARE_EXPIRES_IN).contains(&expires_in) {
            return Err(ToolError::invalid(
                "expires_in",
                format!(
                    "must be between {MIN_SHARE_EXPIRES_IN} and {MAX_SHARE_EXPIRES_IN} seconds, got {expires_in}"
                ),
            ));
        }
        Ok(ValidShare {
            principal: principal.to_owned(),
            rights: self.rights,
            expires_in,
            allow_reshare: self.allow_reshare.unwrap_or(false),
        })
    }
}

/// Arguments of `revoke_research_task_share`.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeResearchTaskShare {
    /// The share's id (`share_…`), from share_research_task or list_research_task_shares.
    pub share: String,
}

/// Checks a list of findings against the limits. `allow_empty` is true for
/// `complete_research_task`, which may complete a task without new findings.
pub fn validate_findings(
    findings: &[String],
    allow_empty: bool,
    limits: &Limits,
) -> Result<(), ToolError> {
    if findings.is_empty() && !allow_empty {
        return Err(ToolError::invalid(
            "findings",
            "must contain at least one finding",
        ));
    }
    if findings.len() > limits.max_findings_per_call {
        return Err(ToolError::LimitExceeded {
            field: "findings",
            limit: limits.max_findings_per_call as u64,
            what: "findings per call",
        });
    }
    for (i, f) in findings.iter().enumerate() {
        if f.trim().is_empty() {
            return Err(ToolError::invalid("findings", format!("item {i} is blank")));
        }
        let n = f.chars().count();
        if n > limits.max_finding_chars {
            return Err(ToolError::invalid(
                "findings",
                format!(
                    "item {i} has {n} characters; the limit is {}",
                    limits.max_finding_chars
                ),
            ));
        }
    }
    Ok(())
}

/// Resolves a page size: the default when absent, an error naming `limit` when out of range.
pub fn page_size(limit: Option<u32>, limits: &Limits) -> Result<u32, ToolError> {
    match limit {
        None => Ok(limits.default_page_size),
        Some(n) if (1..=limits.max_page_size).contains(&n) => Ok(n),
        Some(n) => Err(ToolError::invalid(
            "limit",
            format!("must be between 1 and {}, got {n}", limits.max_page_size),
        )),
    }
}

/// Deserializes tool arguments, naming the offending field in the error.
///
/// `serde`'s own messages say what was wrong but not always where; this wraps them with
/// the path of the field (`depth`, `findings[2]`).
pub fn parse_arguments<T: serde::de::DeserializeOwned>(
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ToolError> {
    let value = serde_json::Value::Object(arguments);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            // Missing and unknown fields are reported at the root; serde names them itself.
            ToolError::BadArguments { detail: inner }
        } else {
            ToolError::InvalidArgument {
                field: path,
                reason: inner,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn share(v: serde_json::Value) -> Result<ValidShare, ToolError> {
        let args: ShareResearchTask = parse_arguments(v.as_object().unwrap().clone())?;
        args.validate()
    }

    #[test]
    fn share_arguments_are_checked_field_by_field() {
        let ok = share(json!({"handle": "h", "principal": "key:bob", "rights": "append"})).unwrap();
        assert_eq!(
            ok,
            ValidShare {
                principal: "key:bob".into(),
                rights: ShareRight::Append,
                expires_in: DEFAULT_SHARE_EXPIRES_IN,
                allow_reshare: false,
            }
        );
        let invalid = |v, field: &str| match share(v) {
            Err(ToolError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an error on {field}, got {other:?}"),
        };
        invalid(
            json!({"handle": "h", "principal": "", "rights": "read"}),
            "principal",
        );
        invalid(
            json!({"handle": "h", "principal": " bob", "rights": "read"}),
            "principal",
        );
        invalid(
            json!({"handle": "h", "principal": "a\nb", "rights": "read"}),
            "principal",
        );
        invalid(
            json!({"handle": "h", "principal": "x".repeat(MAX_PRINCIPAL_BYTES + 1), "rights": "read"}),
            "principal",
        );
        invalid(
            json!({"handle": "h", "principal": "bob", "rights": "read", "expires_in": 59}),
            "expires_in",
        );
        invalid(
            json!({"handle": "h", "principal": "bob", "rights": "read", "expires_in": MAX_SHARE_EXPIRES_IN + 1}),
            "expires_in",
        );
        // An unknown right names the field and the rights there are.
        match share(json!({"handle": "h", "principal": "bob", "rights": "admin"})) {
            Err(ToolError::InvalidArgument { field, reason }) => {
                assert_eq!(field, "rights");
                assert!(reason.contains("`read`, `append`, `complete`"), "{reason}");
            }
            other => panic!("expected an error on rights, got {other:?}"),
        }
    }

    fn start(v: serde_json::Value) -> Result<ValidStart, ToolError> {
        let args: StartResearchTask = parse_arguments(v.as_object().unwrap().clone())?;
        args.validate(&Limits::default())
    }

    #[test]
    fn topic_is_trimmed_and_depth_defaults() {
        let v = start(json!({"topic": "  quantum dots \n"})).unwrap();
        assert_eq!(v.topic, "quantum dots");
        assert_eq!(v.depth, 2);
    }

    #[test]
    fn blank_and_long_topics_name_the_field() {
        let e = start(json!({"topic": "   "})).unwrap_err();
        assert_eq!(e.to_string(), "invalid argument `topic`: must not be blank");
        let e = start(json!({"topic": "x".repeat(501)})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument `topic`: must be at most 500 characters, got 501"
        );
        // 500 multi-byte characters are fine: the limit counts characters, not bytes.
        assert!(start(json!({"topic": "é".repeat(500)})).is_ok());
    }

    #[test]
    fn depth_outside_range_names_the_field() {
        for d in [0, 6, 255] {
            let e = start(json!({"topic": "t", "depth": d})).unwrap_err();
            assert!(e.to_string().starts_with("invalid argument `depth`"), "{e}");
        }
        let e = start(json!({"topic": "t", "depth": "deep"})).unwrap_err();
        assert!(e.to_string().starts_with("invalid argument `depth`"), "{e}");
        let e = start(json!({"topic": "t", "depth": -1})).unwrap_err();
        assert!(e.to_string().starts_with("invalid argument `depth`"), "{e}");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let e = start(json!({})).unwrap_err();
        assert!(e.to_string().contains("`topic`"), "{e}");
        let e = start(json!({"topic": "t", "colour": "red"})).unwrap_err();
        assert!(e.to_string().contains("`colour`"), "{e}");
    }

    #[test]
    fn idempotency_key_rules() {
        assert!(start(json!({"topic": "t", "idempotency_key": "abc-123"})).is_ok());
        let e = start(json!({"topic": "t", "idempotency_key": ""})).unwrap_err();
        assert!(e.to_string().contains("`idempotency_key`"));
        let e = start(json!({"topic": "t", "idempotency_key": "a b"})).unwrap_err();
        assert!(e.to_string().contains("`idempotency_key`"));
    }

    #[test]
    fn findings_limits() {
        let l = Limits::default();
        assert!(validate_findings(&[], true, &l).is_ok());
        assert!(validate_findings(&[], false, &l).is_err());
        let too_many = vec!["f".to_string(); l.max_findings_per_call + 1];
        assert_eq!(
            validate_findings(&too_many, false, &l)
                .unwrap_err()
                .to_string(),
            "limit exceeded for `findings`: at most 100 findings per call"
        );
        let e = validate_findings(&["ok".into(), " ".into()], false, &l).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument `findings`: item 1 is blank"
        );
        let long = vec!["x".repeat(l.max_finding_chars + 1)];
        assert!(validate_findings(&long, false, &l).is_err());
    }

    #[test]
    fn wrong_type_inside_a_list_names_the_item() {
        let e = parse_arguments::<AddFindings>(
            json!({"handle": "h", "findings": ["a", 3]})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("invalid argument `findings[1]`"),
            "{e}"
        );
    }

    #[test]
    fn page_size_bounds() {
        let l = Limits::default();
        assert_eq!(page_size(None, &l).unwrap(), 50);
        assert_eq!(page_size(Some(200), &l).unwrap(), 200);
        assert!(page_size(Some(0), &l).is_err());
        assert!(page_size(Some(201), &l).is_err());
    }
}
