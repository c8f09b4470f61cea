#![allow(clippy::unwrap_used)]

use serde_json::json;

use crate::*;

fn def(name: &str, desc: &str, props: serde_json::Value) -> ToolDefinition {
    ToolDefinition::new(name, desc)
        .with_input_schema(json!({"type": "object", "properties": props}))
        .unwrap()
}

fn sample() -> Catalog {
    let mut b = Catalog::builder();
    b.add(def(
        "github_create_issue",
        "Open a new issue in a repository.",
        json!({"title": {"type": "string", "description": "Issue title"}}),
    ))
    .unwrap();
    b.add(def(
        "github_list_issues",
        "List issues in a repository.",
        json!({"state": {"type": "string", "description": "open or closed"}}),
    ))
    .unwrap();
    b.add(def(
        "slack_post_message",
        "Post a message to a channel.",
        json!({"channel": {"type": "string", "description": "Channel ID"}}),
    ))
    .unwrap();
    b.add(def(
        "getHTTPStatus",
        "Check a web endpoint.",
        json!({"url": {"type": "string", "description": "Endpoint address"}}),
    ))
    .unwrap();
    b.add(def(
        "files_remove",
        "Erase a stored document for good.",
        json!({"path": {"type": "string", "description": "Where the document lives"}}),
    ))
    .unwrap();
    b.add(
        ToolSpec::new(def("weather_now", "Current conditions.", json!({})))
            .with_tags(["forecast"])
            .with_group("meteo")
            .with_pinned(true),
    )
    .unwrap();
    b.build()
}

fn names(hits: &[Hit<'_>]) -> Vec<String> {
    hits.iter().map(|h| h.name().to_owned()).collect()
}

#[test]
fn stop_words_sorted() {
    let mut v = crate::search::STOP_WORDS_FOR_TEST.to_vec();
    v.sort_unstable();
    assert_eq!(v, crate::search::STOP_WORDS_FOR_TEST);
}

#[test]
fn exact_name_ranks_first() {
    let c = sample();
    for n in ["github_list_issues", "slack_post_message", "files_remove"] {
        assert_eq!(c.search(n, 5).unwrap()[0].name(), n);
    }
    // mentioned inside a sentence
    assert_eq!(
        c.search("please call github_list_issues for me", 5)
            .unwrap()[0]
            .name(),
        "github_list_issues"
    );
}

#[test]
fn camel_case_and_underscore_split() {
    let c = sample();
    assert_eq!(
        c.search("http status", 5).unwrap()[0].name(),
        "getHTTPStatus"
    );
    assert_eq!(
        c.search("post message", 5).unwrap()[0].name(),
        "slack_post_message"
    );
}

#[test]
fn stemming() {
    let c = sample();
    assert_eq!(
        c.search("creating issues", 5).unwrap()[0].name(),
        "github_create_issue"
    );
    assert_eq!(
        c.search("posting messages", 5).unwrap()[0].name(),
        "slack_post_message"
    );
}

#[test]
fn synonyms_found_in_descriptions() {
    let c = sample();
    // "delete" is a synonym of "erase" and "remove"; "file" of "document".
    assert_eq!(
        c.search("delete a file", 5).unwrap()[0].name(),
        "files_remove"
    );
    // tags and group are searched too
    assert_eq!(
        c.search("meteo forecast", 5).unwrap()[0].name(),
        "weather_now"
    );
}

#[test]
fn parameters_are_searched() {
    let c = sample();
    assert_eq!(
        c.search("endpoint url", 5).unwrap()[0].name(),
        "getHTTPStatus"
    );
}

#[test]
fn deterministic_with_name_tiebreak() {
    let mut b = Catalog::builder();
    for n in ["zeta_tool", "alpha_tool", "mid_tool"] {
        b.add(ToolDefinition::new(n, "Same description here."))
            .unwrap();
    }
    let c = b.build();
    let first = names(&c.search("same description", 10).unwrap());
    assert_eq!(first, ["alpha_tool", "mid_tool", "zeta_tool"]);
    for _ in 0..20 {
        assert_eq!(names(&c.search("same description", 10).unwrap()), first);
    }
    assert_eq!(names(&c.search("same description", 2).unwrap()), first[..2]);
}

#[test]
fn revision_changes_iff_definition_changes() {
    let a = sample();
    let b = sample();
    assert_eq!(a.revision(), b.revision());
    assert_eq!(a.revision().len(), 64);
    for (x, y) in a.entries().iter().zip(b.entries()) {
        assert_eq!(x.digest(), y.digest());
    }
    // order of registration does not matter
    let specs: Vec<ToolSpec> = a.entries().iter().rev().map(|e| e.spec().clone()).collect();
    assert_eq!(Catalog::from_specs(specs).unwrap().revision(), a.revision());

    let mut specs: Vec<ToolSpec> = a.entries().iter().map(|e| e.spec().clone()).collect();
    specs[0].definition.description = Some("Changed.".into());
    let changed = Catalog::from_specs(specs.clone()).unwrap();
    assert_ne!(changed.revision(), a.revision());
    assert_ne!(changed.entries()[0].digest(), a.entries()[0].digest());
    assert_eq!(changed.entries()[1].digest(), a.entries()[1].digest());

    let mut specs2: Vec<ToolSpec> = a.entries().iter().map(|e| e.spec().clone()).collect();
    specs2[1].tags.push("new-tag".into());
    assert_ne!(
        Catalog::from_specs(specs2).unwrap().revision(),
        a.revision()
    );
}

#[test]
fn paging_and_cursor_errors() {
    let c = sample();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = c.page(cursor.as_deref(), 4).unwrap();
        assert_eq!(
            p.start,
            seen.len(),
            "a page starts where the last one ended"
        );
        seen.extend(p.entries.iter().map(|e| e.name().to_owned()));
        match p.next_cursor {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let all: Vec<String> = c.entries().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(seen, all);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);

    let next = c.page(None, 2).unwrap().next_cursor.unwrap();
    assert_eq!(
        c.page(None, 0).unwrap_err().kind(),
        ErrorKind::InvalidPageSize
    );
    assert_eq!(
        c.page(Some("garbage!"), 2).unwrap_err().kind(),
        ErrorKind::InvalidCursor
    );
    assert_eq!(
        c.page(Some(""), 2).unwrap_err().kind(),
        ErrorKind::InvalidCursor
    );

    let mut other = Catalog::builder();
    for e in c.entries() {
        other.add(e.spec().clone()).unwrap();
    }
    other
        .add(ToolDefinition::new("zz_extra", "Extra tool."))
        .unwrap();
    let other = other.build();
    let err = other.page(Some(&next), 2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StaleCursor);
    assert!(err.to_string().contains("stale cursor"), "{err}");
}

#[test]
fn search_errors() {
    let c = sample();
    assert_eq!(c.search("", 5).unwrap_err().kind(), ErrorKind::EmptyQuery);
    assert_eq!(
        c.search(" \t\n", 5).unwrap_err().kind(),
        ErrorKind::EmptyQuery
    );
    let long = "word ".repeat(101);
    let e = c.search(&long, 5).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueryTooLong);
    assert_eq!(
        e.to_string(),
        "search query too long: 505 characters, at most 500 allowed"
    );
    // Common words only, or punctuation only: answered, never an error.
    assert!(c.search("the of and", 5).is_ok());
    assert!(c.search("?!", 5).unwrap().is_empty());
    assert_eq!(
        c.search("issue", 0).unwrap_err().kind(),
        ErrorKind::InvalidLimit
    );
    let e = c.search("issue", 51).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidLimit);
    assert_eq!(
        e.to_string(),
        "invalid search limit 51: must be between 1 and 50"
    );
    // valid query with no match: empty success
    assert!(c.search("xylophone", 5).unwrap().is_empty());
}

#[test]
fn name_validation_and_duplicates() {
    let mut b = Catalog::builder();
    b.add(ToolDefinition::new("ok.name-1_x", "fine")).unwrap();
    let e = b
        .add(ToolDefinition::new("ok.name-1_x", "again"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DuplicateName);
    assert_eq!(
        e.to_string(),
        "duplicate tool name `ok.name-1_x`: a tool with this name is already registered"
    );
    assert_eq!(
        b.add(ToolDefinition::new("", "x")).unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    assert_eq!(
        b.add(ToolDefinition::new("a".repeat(65), "x"))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidName
    );
    b.add(ToolDefinition::new("a".repeat(64), "x")).unwrap();
    let e = b.add(ToolDefinition::new("has space", "x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidName);
    assert!(e.to_string().contains("' '"), "{e}");
}

#[test]
fn json_loading_and_round_trip() {
    let text = r#"[{"name": "t1", "title": "T one", "description": "d",
        "inputSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
        "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true},
        "icons": [{"src": "x.png"}], "futureField": {"deep": [1, 2.5, null]},
        "_meta": {"dev.baton/tags": ["x", "y"], "dev.baton/group": "g", "dev.baton/pinned": true, "other": 1}}]"#;
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    let c = Catalog::load_json_str(text).unwrap();
    let e = c.get("t1").unwrap();
    assert_eq!(e.tags(), ["x", "y"]);
    assert_eq!(e.group(), Some("g"));
    assert!(e.pinned());
    assert_eq!(e.definition().to_json(), original[0]);
    assert_eq!(c.tools_list_json(), json!({"tools": original}));

    let wrapped = format!(r#"{{"tools": {text}}}"#);
    assert_eq!(
        Catalog::load_json_str(&wrapped).unwrap().revision(),
        c.revision()
    );

    let bad = [
        (r#"{"nope": 1}"#, ErrorKind::InvalidDefinition),
        ("[1]", ErrorKind::InvalidDefinition),
        (r#"[{"name": "x"}]"#, ErrorKind::InvalidDefinition),
        ("not json", ErrorKind::InvalidDefinition),
        (
            r#"[{"name": "x", "inputSchema": {}, "_meta": {"dev.baton/tags": "a"}}]"#,
            ErrorKind::InvalidMetadata,
        ),
        (
            r#"[{"name": "x", "inputSchema": {}, "_meta": {"dev.baton/pinned": "yes"}}]"#,
            ErrorKind::InvalidMetadata,
        ),
        (
            r#"[{"name": "x", "inputSchema": {}}, {"name": "x", "inputSchema": {}}]"#,
            ErrorKind::DuplicateName,
        ),
    ];
    for (text, kind) in bad {
        assert_eq!(
            Catalog::load_json_str(text).unwrap_err().kind(),
            kind,
            "{text}"
        );
    }
    let e = Catalog::load_json_path("/definitely/not/here.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
}

#[test]
fn meta_tools_are_valid() {
    let s = search_tools_definition();
    let c = call_tool_definition();
    assert_eq!(s.name, SEARCH_TOOLS_NAME);
    assert_eq!(c.name, CALL_TOOL_NAME);
    assert!(s.input_schema.contains_key("properties"));
    Catalog::from_specs([s, c]).unwrap();
    let args: SearchToolsArgs = serde_json::from_value(json!({"query": "x"})).unwrap();
    assert_eq!(args.limit, None);
}

#[test]
fn bench_catalog_loads_and_searches() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/catalog/tools-500.json"
    );
    let c = Catalog::load_json_path(path).unwrap();
    assert_eq!(c.len(), 500);
    assert_eq!(
        c.search("creating a github issue", 5).unwrap()[0].name(),
        "github_create_issue"
    );
    assert_eq!(
        c.search("refund a payment", 3).unwrap()[0].name(),
        "stripe_create_refund"
    );
}

/// Tools that share their object and differ only in action or number, the way real catalogs do.
fn crud() -> Catalog {
    let mut b = Catalog::builder();
    let tools = [
        ("repo_get_pull_request", "Details of one pull request."),
        (
            "repo_list_pull_requests",
            "Pull requests of a repository, by state.",
        ),
        (
            "repo_create_pull_request",
            "New pull request from a branch.",
        ),
        ("repo_delete_branch", "Delete a branch of a repository."),
        ("repo_create_branch", "Create a branch in a repository."),
        ("cal_delete_event", "Delete an event from a calendar."),
        ("cal_update_event", "Change an event in a calendar."),
        ("cal_get_event_attendees", "Attendees of a calendar event."),
        ("hr_approve_time_off_request", "Approve a time off request."),
        ("hr_create_time_off_request", "File a time off request."),
        ("hr_get_request", "Get a request for time or money."),
        ("oncall_list_oncalls", "Who is currently on duty."),
        ("payroll_get_pay_stub", "One employee pay stub."),
    ];
    for (n, d) in tools {
        b.add(ToolSpec::new(def(n, d, json!({}))).with_group(n.split('_').next().unwrap()))
            .unwrap();
    }
    b.build()
}

#[test]
fn plural_object_prefers_list_singular_prefers_get() {
    let c = crud();
    assert!(crate::search::is_plural("requests"));
    assert!(crate::search::is_plural("queries"));
    for w in ["status", "access", "analysis", "bus", "pr"] {
        assert!(!crate::search::is_plural(w), "{w}");
    }
    assert_eq!(
        c.search("pull requests by alice", 3).unwrap()[0].name(),
        "repo_list_pull_requests"
    );
    assert_eq!(
        c.search("show pull request 42", 3).unwrap()[0].name(),
        "repo_get_pull_request"
    );
}

#[test]
fn leading_verb_sets_intent() {
    let c = crud();
    // "open" leading the request means create; as an adjective later it does not.
    assert_eq!(
        c.search("open a pull request", 3).unwrap()[0].name(),
        "repo_create_pull_request"
    );
    assert_eq!(
        c.search("which pull requests are open", 3).unwrap()[0].name(),
        "repo_list_pull_requests"
    );
    // cancel → delete, start → create, change → update
    assert_eq!(
        c.search("cancel the event", 3).unwrap()[0].name(),
        "cal_delete_event"
    );
    assert_eq!(
        c.search("start a branch", 3).unwrap()[0].name(),
        "repo_create_branch"
    );
    assert_eq!(
        c.search("edit the event", 3).unwrap()[0].name(),
        "cal_update_event"
    );
    // a leading verb that is itself a tool action
    assert_eq!(
        c.search("approve the time off request", 3).unwrap()[0].name(),
        "hr_approve_time_off_request"
    );
}

#[test]
fn adjacent_words_matching_the_name_rank_higher() {
    let c = crud();
    // "time off request" matches hr_get_request's words too, but not as a phrase.
    let hits = names(&c.search("time off request", 5).unwrap());
    assert!(hits[..2].iter().all(|n| n.contains("time_off")), "{hits:?}");
}

#[test]
fn compound_words_join_and_split() {
    let c = crud();
    assert_eq!(
        c.search("who is on-call", 3).unwrap()[0].name(),
        "oncall_list_oncalls"
    );
    assert_eq!(
        c.search("on call schedule", 3).unwrap()[0].name(),
        "oncall_list_oncalls"
    );
    assert_eq!(
        c.search("my latest paystub", 3).unwrap()[0].name(),
        "payroll_get_pay_stub"
    );
}

#[test]
fn participant_synonyms() {
    let c = crud();
    assert_eq!(
        c.search("who attended", 3).unwrap()[0].name(),
        "cal_get_event_attendees"
    );
}

#[test]
fn new_rules_are_deterministic() {
    let c = crud();
    for q in ["open a pull request", "who is on-call", "time off request"] {
        let first = names(&c.search(q, 10).unwrap());
        for _ in 0..10 {
            assert_eq!(names(&c.search(q, 10).unwrap()), first);
        }
    }
}
