//! Ranking behaviours added for real catalogs: common-word requests, misspellings, whole
//! camelCase words, service context, shared name prefixes, phrases, bare numbers,
//! identifiers, prefix relatives, the action of a sub-prefixed name, the leading verb's actions
//! and coverage weighted by how each term matched.

use crate::{Catalog, ToolDefinition, ToolSpec};

fn grouped(tools: &[(&str, &str, &str)]) -> Catalog {
    let mut b = Catalog::builder();
    for (group, name, desc) in tools {
        b.add(ToolSpec::new(ToolDefinition::new(*name, *desc)).with_group(*group))
            .unwrap();
    }
    b.build()
}

fn top(c: &Catalog, query: &str) -> String {
    c.search(query, 5).unwrap()[0].name().to_owned()
}

#[test]
fn common_words_only_are_answered_with_the_words_given() {
    let c = grouped(&[
        (
            "sentry",
            "sentry__whoami",
            "Identify the authenticated user in Sentry.",
        ),
        (
            "sentry",
            "sentry__find_projects",
            "Find projects in Sentry.",
        ),
        (
            "slack",
            "slack__post_message",
            "Post a message to a channel.",
        ),
    ]);
    // Every word of "who am I" is a stop word; the three written together name a tool.
    assert_eq!(top(&c, "who am I"), "sentry__whoami");
    assert_eq!(top(&c, "who am i logged in as"), "sentry__whoami");
    // Nothing to match is an empty answer, not an error.
    assert!(c.search("to be or not", 5).unwrap().is_empty());
    assert!(c.search("?!", 5).unwrap().is_empty());
}

#[test]
fn misspelt_words_find_the_closest_catalog_term() {
    let c = grouped(&[
        (
            "stripe",
            "stripe__create_refund",
            "Refund a payment intent.",
        ),
        ("stripe", "stripe__create_coupon", "Create a coupon."),
        (
            "time",
            "time__convert_time",
            "Convert time between timezones.",
        ),
    ]);
    assert_eq!(top(&c, "refnd the last paymnet"), "stripe__create_refund");
    assert_eq!(top(&c, "conver 5pm to CET"), "time__convert_time");
    // A word one edit from a term but with another first letter is not corrected.
    assert!(c.search("fefund", 5).unwrap().is_empty());
}

#[test]
fn camel_case_words_are_also_indexed_whole() {
    let c = grouped(&[
        (
            "browser",
            "browser_evaluate",
            "Evaluate a JavaScript expression on the page.",
        ),
        ("browser", "browser_click", "Click an element on the page."),
    ]);
    assert_eq!(top(&c, "run javascript"), "browser_evaluate");
    assert_eq!(top(&c, "run java script"), "browser_evaluate");
}

#[test]
fn a_service_named_in_the_request_favours_its_tools() {
    let c = grouped(&[
        (
            "github",
            "github__create_issue",
            "Create a new issue in a repository.",
        ),
        (
            "gitlab",
            "gitlab__create_issue",
            "Create a new issue in a project.",
        ),
    ]);
    assert_eq!(top(&c, "create an issue on gitlab"), "gitlab__create_issue");
    assert_eq!(top(&c, "create an issue on github"), "github__create_issue");
}

#[test]
fn a_prefix_shared_by_a_whole_service_is_no_action() {
    // Every tool of the service starts `API-`; the action is the word after it, so the
    // request's verb ("delete") picks the delete tool over the one whose object matches alone.
    let c = grouped(&[
        (
            "notion",
            "notion__API-delete-a-block",
            "Notion | Delete a block",
        ),
        (
            "notion",
            "notion__API-retrieve-a-block",
            "Notion | Retrieve a block",
        ),
        (
            "notion",
            "notion__API-update-a-block",
            "Notion | Update a block",
        ),
    ]);
    assert_eq!(top(&c, "remove that block"), "notion__API-delete-a-block");
    assert_eq!(top(&c, "show the block"), "notion__API-retrieve-a-block");
}

#[test]
fn phrases_carry_their_meaning() {
    let c = grouped(&[
        (
            "mongodb",
            "mongodb__count",
            "Gets the number of documents in a collection.",
        ),
        (
            "mongodb",
            "mongodb__insert-many",
            "Insert an array of documents into a collection.",
        ),
        (
            "maps",
            "maps__elevation",
            "Get elevation data for locations on the earth.",
        ),
        (
            "maps",
            "maps__geocode",
            "Convert an address into geographic coordinates.",
        ),
    ]);
    // "how many" asks for a count, not for the tool named `*-many`.
    assert_eq!(
        top(&c, "how many documents are in events"),
        "mongodb__count"
    );
    assert_eq!(
        top(&c, "how high above sea level is Denver"),
        "maps__elevation"
    );
}

#[test]
fn bare_numbers_are_not_matched_against_descriptions() {
    let c = grouped(&[
        (
            "github",
            "github__get_issue",
            "Get one issue of a repository.",
        ),
        (
            "ci",
            "ci__resource_classes",
            "Find jobs using below 40 percent of their 40 CPUs.",
        ),
    ]);
    assert_eq!(top(&c, "issue 40"), "github__get_issue");
    // A query made only of a number is still answered.
    assert!(c.search("40", 5).is_ok());
}

#[test]
fn description_summary_outweighs_usage_notes() {
    let c = grouped(&[
        (
            "a",
            "a__list_artifacts",
            "List the artifacts of a job. Common use cases: find a flaky test report, a coverage file.",
        ),
        ("b", "b__find_flaky_tests", "Find flaky tests in a project."),
    ]);
    assert_eq!(top(&c, "which tests are flaky"), "b__find_flaky_tests");
}

#[test]
fn identifiers_are_rewritten_as_what_they_are() {
    use super::query::rewrite_identifiers as rw;
    assert_eq!(rw("open notes.txt and show it"), "open file and show it");
    assert_eq!(rw("read /etc/app/settings.toml"), "read file");
    assert_eq!(
        rw("download https://example.com/blog, please"),
        "download url please"
    );
    assert_eq!(rw("invite jane@example.com"), "invite email");
    assert_eq!(
        rw("list every url on example.com."),
        "list every url on site domain"
    );
    // Owner/repository pairs, branch names, versions and keys are kept as typed.
    assert_eq!(
        rw("issue 7 in rust-lang/rust on feature/login v2.0 session:42"),
        "issue 7 in rust-lang/rust on feature/login v2.0 session:42"
    );
}

#[test]
fn a_file_name_asks_for_a_file_tool() {
    let c = grouped(&[
        (
            "memory",
            "memory__open_nodes",
            "Open nodes of the knowledge graph: notes, people and facts.",
        ),
        (
            "filesystem",
            "filesystem__read_file",
            "Read the complete contents of a file.",
        ),
    ]);
    // "notes" of "notes.txt" is no note.
    assert_eq!(top(&c, "open notes.txt"), "filesystem__read_file");
    assert_eq!(top(&c, "show me ~/todo.md"), "filesystem__read_file");
}

#[test]
fn short_stems_of_long_words_are_corrected_short_words_are_not() {
    let c = grouped(&[
        ("github", "github__create_branch", "Create a new branch."),
        ("github", "github__create_issue", "Create a new issue."),
        (
            "github",
            "github__create_repository",
            "Create a new repository.",
        ),
        ("docs", "docs__parse", "Parse a document."),
    ]);
    // "isue" stems to "isu": three letters, but typed as four.
    assert_eq!(top(&c, "creat a new isue"), "github__create_issue");
    // A three-letter word is no misspelling of "parse".
    assert!(c.search("prs", 5).unwrap().is_empty());
}

#[test]
fn terms_that_extend_each_other_match() {
    let c = grouped(&[
        (
            "app",
            "app__settings",
            "Read the application configuration.",
        ),
        ("app", "app__logs", "Read the application logs."),
        ("x", "x__auth_state", "Whether the session is logged in."),
        ("x", "x__list_items", "List the items."),
    ]);
    // "config" is a prefix of the stem "configur"; "authentication" extends "auth".
    assert_eq!(top(&c, "show config"), "app__settings");
    assert_eq!(top(&c, "check authentication"), "x__auth_state");
}

#[test]
fn the_action_is_found_past_a_sub_prefix() {
    // Not every atlassian tool starts `jira_`, so `jira` is no shared prefix; the action is
    // the first name word a request verb asks for.
    let c = grouped(&[
        (
            "atlassian",
            "atlassian__jira_create_issue",
            "A Jira issue: fields and status.",
        ),
        (
            "atlassian",
            "atlassian__jira_get_issue",
            "A Jira issue: fields and status.",
        ),
        (
            "atlassian",
            "atlassian__confluence_create_page",
            "A Confluence page.",
        ),
        (
            "atlassian",
            "atlassian__confluence_get_page",
            "A Confluence page.",
        ),
    ]);
    assert_eq!(
        top(&c, "what is jira issue PROJ-1 about"),
        "atlassian__jira_get_issue"
    );
}

#[test]
fn rest_verbs_are_actions_and_other_actions_count_against() {
    let c = grouped(&[
        ("notion", "notion__API-patch-page", "A Notion page."),
        ("notion", "notion__API-post-page", "A Notion page."),
        ("notion", "notion__API-get-users", "The workspace users."),
    ]);
    assert_eq!(top(&c, "add a page to notion"), "notion__API-post-page");
    assert_eq!(top(&c, "edit that notion page"), "notion__API-patch-page");
}

#[test]
fn an_action_that_another_verb_asks_for_counts_against() {
    // Neither action is what "show" asks for, but `delete` is what other verbs ask for.
    let c = grouped(&[
        ("svc", "svc__delete_snapshot", "A disk snapshot."),
        ("svc", "svc__diff_snapshot", "A disk snapshot."),
        ("svc", "svc__get_volume", "A disk volume."),
    ]);
    assert_eq!(top(&c, "show the snapshot"), "svc__diff_snapshot");
}

#[test]
fn the_leading_verb_matches_the_actions_it_asks_for() {
    let c = grouped(&[
        ("browser", "browser_navigate", "Navigate to a URL."),
        (
            "browser",
            "browser_screenshot",
            "Take a screenshot of the current page.",
        ),
        (
            "browser",
            "browser_hover",
            "Hover over an element on the page.",
        ),
    ]);
    // Of "open the login page in the browser", `browser_navigate` matches only the service and
    // the action that "open" asks for.
    assert_eq!(
        top(&c, "open the login page in the browser"),
        "browser_navigate"
    );
    // A verb other than the leading one does not stand for actions.
    assert_ne!(
        top(&c, "the login page in the browser to open"),
        "browser_navigate"
    );
    // Nor does the action alone make a match: the tool must match another word.
    let hits = c.search("open the login page", 5).unwrap();
    assert!(hits.iter().all(|h| h.name() != "browser_navigate"));
}

#[test]
fn a_term_matched_through_a_synonym_covers_less_of_the_request() {
    // `svc__alpha` matches both words of "remove ticket" through synonyms (delete, issue) in
    // its first sentence; `svc__beta` matches both as typed, but after its first sentence.
    let c = grouped(&[
        ("svc", "svc__alpha", "Delete an issue."),
        (
            "svc",
            "svc__beta",
            "Manage the queue. Remove a ticket, or remove several tickets; a removed ticket is gone.",
        ),
        ("svc", "svc__gamma", "Other words entirely."),
        ("svc", "svc__delta", "Nothing here."),
    ]);
    assert_eq!(top(&c, "remove ticket"), "svc__beta");
    // Without the words as typed, the synonyms still find it.
    assert_eq!(top(&c, "delete issue"), "svc__alpha");
}

#[test]
fn software_abbreviations_match_their_words() {
    // Each right answer comes second, so that only the abbreviation can put it first.
    let c = grouped(&[
        ("local", "local__list_pods", "List the local pods."),
        (
            "cluster",
            "cluster__list_pods",
            "List the pods of a Kubernetes namespace.",
        ),
        ("ci", "ci__set_secret", "Set a secret of the build."),
        (
            "ci",
            "ci__set_environment",
            "Set a variable of the build environment.",
        ),
    ]);
    assert_eq!(top(&c, "k8s pods"), "cluster__list_pods");
    assert_eq!(top(&c, "set an env var"), "ci__set_environment");
    // Back from the word to the abbreviation.
    let c = grouped(&[
        ("a", "a__list_trees", "List the trees."),
        ("a", "a__src_tree", "The src tree."),
    ]);
    assert_eq!(top(&c, "show the source tree"), "a__src_tree");
    // An abbreviation names a service as well as its words do.
    let c = grouped(&[
        (
            "docker",
            "docker__list_containers",
            "List the containers, the pods of a machine.",
        ),
        (
            "kubernetes",
            "kubernetes__list_pods",
            "List the pods of a cluster.",
        ),
    ]);
    assert_eq!(top(&c, "list containers in k8s"), "kubernetes__list_pods");
    assert_eq!(
        top(&c, "list containers in kubernetes"),
        "kubernetes__list_pods"
    );
}

#[test]
fn common_software_verbs_match_their_synonyms() {
    let c = grouped(&[
        ("site", "site__update_page", "Update a page."),
        (
            "site",
            "site__create_monitor",
            "Create a monitor of a page.",
        ),
        ("git", "git__show_commit", "Show a commit."),
        ("git", "git__diff", "The difference between commits."),
    ]);
    assert_eq!(top(&c, "watch this page"), "site__create_monitor");
    assert_eq!(top(&c, "compare commits"), "git__diff");
    let c = grouped(&[
        (
            "weather",
            "weather__get_forecast",
            "The weather forecast for the coming days.",
        ),
        (
            "weather",
            "weather__get_conditions",
            "The current weather conditions.",
        ),
    ]);
    assert_eq!(top(&c, "the weather now"), "weather__get_conditions");
}

#[test]
fn a_yes_no_question_asks_to_read() {
    // Same text but for the action; the reading tool comes second, so that only the question
    // puts it first.
    let c = grouped(&[
        ("ci", "ci__cancel_build", "A build."),
        ("ci", "ci__get_build", "A build."),
    ]);
    assert_eq!(top(&c, "is the build done"), "ci__get_build");
    assert_eq!(top(&c, "did the build pass"), "ci__get_build");
    // A request that starts otherwise keeps its verb.
    assert_eq!(top(&c, "cancel the build"), "ci__cancel_build");
}

#[test]
fn things_asked_for_in_the_plural_want_a_listing() {
    // Same text, and no name word that carries number: only the request's number decides.
    let c = grouped(&[
        ("kv", "kv__get", "A key in the store."),
        ("kv", "kv__list", "A key in the store."),
    ]);
    assert_eq!(top(&c, "which keys are in the store"), "kv__list");
    assert_eq!(top(&c, "the keys in the store"), "kv__list");
    assert_eq!(top(&c, "which key is in the store"), "kv__get");
}

#[test]
fn real_catalog_answers_every_kind_of_request() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/catalog/real/tools.json"
    );
    let c = Catalog::load_json_path(path).unwrap();
    assert_eq!(c.len(), 348);
    assert_eq!(top(&c, "who am I"), "sentry__whoami");
    assert_eq!(top(&c, "github__create_issue"), "github__create_issue");
}
