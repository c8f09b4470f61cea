//! Delegation end to end (issue 18), against the real `baton` binary with API keys: an
//! orchestrator shares a research task with two sub-agents, each with its own key, on
//! another instance of a pair (on Postgres, on Redis, on a three-node Redis Cluster) and on
//! one SQLite instance.
//!
//! Checked: use within the rights (on the other instance), refusal beyond them naming the
//! missing right, attenuation (a delegate cannot grant more than it holds, nor re-share
//! without leave), cascading revocation seen at once on every instance, expiry of a share,
//! the delegate's listing, the owner-only share listing, a third principal presenting a
//! delegated handle getting the unknown-handle answer byte for byte, the audit trail, and
//! logs free of keys and handle MACs. Prints the rights matrix as tested.
//!
//! Needs Postgres and Redis for the pairs: under CI a missing one fails the test, elsewhere it
//! is skipped with a `BATON-SKIP:` line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use baton_e2e::support::{
    auth::{Secret, assert_no_secrets, create_api_key},
    fleet::{Fleet, FleetOptions},
    http::Reply,
    redis::RedisDatabase,
    rpc::{Outcome, Rpc},
    server::{Server, sqlite_url},
    wait,
};
use baton_protocol::UNKNOWN_HANDLE_MESSAGE;
use serde_json::{Value, json};

/// Generous: a loaded 2-core machine makes waits longer, never wrong.
const DEADLINE: Duration = Duration::from_secs(60);

/// Someone calling baton: a name for the report, a key, and the instance they reach.
struct Caller {
    name: String,
    principal: String,
    rpc: Rpc,
    url: String,
}

impl Caller {
    fn new(name: &str, principal: &str, key: &str, url: &str) -> Caller {
        Caller {
            name: name.to_owned(),
            principal: principal.to_owned(),
            rpc: Rpc::default().with_token(key),
            url: url.to_owned(),
        }
    }

    async fn call(&self, tool: &str, args: Value) -> Outcome {
        self.rpc.call(&self.url, tool, args).await
    }

    async fn ok(&self, tool: &str, args: Value) -> Value {
        match self.call(tool, args.clone()).await {
            Outcome::Ok(v) => v,
            other => panic!(
                "{} {tool}({args}): expected success, got {other:?}",
                self.name
            ),
        }
    }

    async fn refused(&self, tool: &str, args: Value) -> String {
        match self.call(tool, args.clone()).await {
            Outcome::ToolError(text) => text,
            other => panic!(
                "{} {tool}({args}): expected a tool error, got {other:?}",
                self.name
            ),
        }
    }

    async fn reply(&self, tool: &str, args: Value) -> Reply {
        self.rpc.call_reply(&self.url, tool, args).await
    }
}

/// The rights matrix, as tested: one row per (holder, right held, tool, outcome).
#[derive(Default)]
struct Matrix {
    rows: Vec<String>,
}

impl Matrix {
    fn row(&mut self, backend: &str, holder: &str, held: &str, tool: &str, got: &str) {
        self.rows.push(format!(
            "| {backend} | {holder} | {held} | {tool} | {got} |"
        ));
    }

    fn print(&self) {
        println!("| backend | holder | holds | tool | got |");
        println!("|---|---|---|---|---|");
        for row in &self.rows {
            println!("{row}");
        }
    }
}

fn missing_right(tool: &str, needed: &str, held: &str) -> String {
    format!(
        "this handle was shared with you with the `{held}` right; {tool} needs `{needed}`; ask the task's owner for a share with that right"
    )
}

/// `handle` with one symbol of its MAC changed: a handle that was never issued.
fn forged(handle: &str) -> String {
    let last = handle.chars().last().expect("a handle");
    let swapped = if last == '0' { '1' } else { '0' };
    format!("{}{swapped}", &handle[..handle.len() - 1])
}

/// The tool result of a 200 answer.
fn tool_result(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.body["result"].to_string()
}

/// Every handle made in a scenario, to look for in the logs afterwards.
struct Made {
    handles: Vec<String>,
}

/// The scenario of the issue: `orch` starts a task and shares it (append) with `sub1` and
/// `sub2` (who may re-share); each appends findings; `sub2` re-shares read-only with
/// `third`; attenuation and rights are refused with the right error; `intruder` presenting
/// a delegated handle gets the unknown-handle answer; revoking sub2's share revokes third's
/// too; the orchestrator completes and sub1 reads the result.
async fn scenario(
    backend: &str,
    orch: &Caller,
    sub1: &Caller,
    sub2: &Caller,
    third: &Caller,
    intruder: &Caller,
    matrix: &mut Matrix,
) -> Made {
    let topic = format!("{backend}: tidal energy for {}", orch.name);
    let task = orch
        .ok("start_research_task", json!({"topic": topic, "depth": 3}))
        .await["handle"]
        .as_str()
        .unwrap()
        .to_owned();

    // The owner shares append (read + add_findings) with both sub-agents.
    let s1 = orch
        .ok(
            "share_research_task",
            json!({"handle": task, "principal": sub1.principal, "rights": "append"}),
        )
        .await;
    let s2 = orch
        .ok(
            "share_research_task",
            json!({"handle": task, "principal": sub2.principal, "rights": "append",
                   "allow_reshare": true, "expires_in": 3600}),
        )
        .await;
    let (h1, h2) = (
        s1["handle"].as_str().unwrap().to_owned(),
        s2["handle"].as_str().unwrap().to_owned(),
    );
    assert!(
        h1.starts_with("dtask_") && h2.starts_with("dtask_"),
        "{s1} {s2}"
    );
    assert_eq!(
        (&s1["rights"], &s1["allow_reshare"]),
        (&json!("append"), &json!(false))
    );
    assert!(s1["share"].as_str().unwrap().starts_with("share_"), "{s1}");

    // Within the rights, on the sub-agents' own instances.
    for (sub, handle, n) in [(sub1, &h1, "one"), (sub2, &h2, "two")] {
        let status = sub.ok("get_task_status", json!({"handle": handle})).await;
        assert_eq!(status["topic"], topic.as_str());
        assert_eq!(
            status["handle"],
            handle.as_str(),
            "the answer names the handle used"
        );
        matrix.row(backend, &sub.name, "append", "get_task_status", "ok");
        let added = sub
            .ok(
                "add_findings",
                json!({"handle": handle, "findings": [format!("finding {n}")],
                       "idempotency_key": format!("{}-{n}", sub.name)}),
            )
            .await;
        assert_eq!(added["added"], 1);
        // A retry with the same key stores nothing twice.
        let again = sub
            .ok(
                "add_findings",
                json!({"handle": handle, "findings": [format!("finding {n}")],
                       "idempotency_key": format!("{}-{n}", sub.name)}),
            )
            .await;
        assert_eq!(again["findings_count"], added["findings_count"]);
        matrix.row(
            backend,
            &sub.name,
            "append",
            "add_findings",
            "ok (and an idempotent retry)",
        );
        sub.ok("get_task_results", json!({"handle": handle})).await;
        matrix.row(backend, &sub.name, "append", "get_task_results", "ok");
    }

    // Beyond the rights: the error names the missing right, and nothing changes.
    for (tool, args) in [
        (
            "complete_research_task",
            json!({"handle": h1, "findings": ["no"]}),
        ),
        ("cancel_research_task", json!({"handle": h1})),
    ] {
        let text = sub1.refused(tool, args).await;
        assert_eq!(text, missing_right(tool, "complete", "append"));
        matrix.row(
            backend,
            &sub1.name,
            "append",
            tool,
            "refused: needs `complete`",
        );
    }
    let status = orch.ok("get_task_status", json!({"handle": task})).await;
    assert_eq!(
        (&status["status"], &status["findings_count"]),
        (&json!("running"), &json!(2))
    );

    // Attenuation: no re-share without leave; never more than held.
    let text = sub1
        .refused(
            "share_research_task",
            json!({"handle": h1, "principal": third.principal, "rights": "read"}),
        )
        .await;
    assert!(text.contains("without allow_reshare"), "{text}");
    matrix.row(
        backend,
        &sub1.name,
        "append",
        "share_research_task",
        "refused: no allow_reshare",
    );
    let text = sub2
        .refused(
            "share_research_task",
            json!({"handle": h2, "principal": third.principal, "rights": "complete"}),
        )
        .await;
    assert_eq!(
        text,
        "invalid argument `rights`: asks for `complete` but you hold `append`: a share can only narrow what you hold"
    );
    matrix.row(
        backend,
        &sub2.name,
        "append + reshare",
        "share_research_task (complete)",
        "refused: more than held",
    );
    let s3 = sub2
        .ok(
            "share_research_task",
            json!({"handle": h2, "principal": third.principal, "rights": "read",
                   "expires_in": 604800}),
        )
        .await;
    let h3 = s3["handle"].as_str().unwrap().to_owned();
    assert!(
        s3["expires_at"].as_str().unwrap() <= s2["expires_at"].as_str().unwrap(),
        "a re-share never outlives its parent: {s3} vs {s2}"
    );
    matrix.row(
        backend,
        &sub2.name,
        "append + reshare",
        "share_research_task (read)",
        "ok, capped at its own end",
    );
    third.ok("get_task_results", json!({"handle": h3})).await;
    matrix.row(
        backend,
        &third.name,
        "read (re-shared)",
        "get_task_results",
        "ok",
    );
    let text = third
        .refused("add_findings", json!({"handle": h3, "findings": ["x"]}))
        .await;
    assert_eq!(text, missing_right("add_findings", "append", "read"));
    matrix.row(
        backend,
        &third.name,
        "read (re-shared)",
        "add_findings",
        "refused: needs `append`",
    );

    // The delegate's list shows the shared task, marked, with a working delegated handle.
    let listed = sub1.ok("list_research_tasks", json!({})).await;
    let entry = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic.as_str())
        .unwrap_or_else(|| panic!("{} does not list the shared task: {listed}", sub1.name))
        .clone();
    assert_eq!(entry["shared_rights"], "append", "{entry}");
    sub1.ok("get_task_status", json!({"handle": entry["handle"]}))
        .await;
    matrix.row(
        backend,
        &sub1.name,
        "append",
        "list_research_tasks",
        "lists it, marked shared",
    );

    // Only the owner lists the shares: three, one made by sub2.
    let shares = orch
        .ok("list_research_task_shares", json!({"handle": task}))
        .await;
    let shares = shares["shares"].as_array().unwrap().clone();
    assert_eq!(shares.len(), 3, "{shares:?}");
    assert!(
        shares
            .iter()
            .any(|s| s["principal"] == third.principal.as_str()
                && s["shared_by"] == sub2.principal.as_str()
                && s["rights"] == "read"),
        "{shares:?}"
    );
    let text = sub1
        .refused("list_research_task_shares", json!({"handle": h1}))
        .await;
    assert_eq!(
        text,
        "only the task's owner can list the task's shares; this handle was shared with you"
    );
    matrix.row(
        backend,
        &sub1.name,
        "append",
        "list_research_task_shares",
        "refused: owner only",
    );

    // A third principal presenting a delegated handle: the unknown-handle answer, byte for
    // byte as for a handle never issued, on every tool.
    for handle in [&h1, &h2, &h3, &task] {
        for (tool, args) in [
            ("get_task_status", json!({"handle": handle})),
            (
                "add_findings",
                json!({"handle": handle, "findings": ["intruded"]}),
            ),
            (
                "share_research_task",
                json!({"handle": handle, "principal": intruder.principal, "rights": "read"}),
            ),
        ] {
            let foreign = tool_result(&intruder.reply(tool, args.clone()).await);
            let mut never = args;
            never["handle"] = json!(forged(handle));
            let unknown = tool_result(&intruder.reply(tool, never).await);
            assert_eq!(
                foreign, unknown,
                "{tool} by {} with another's handle",
                intruder.name
            );
            assert!(foreign.contains(UNKNOWN_HANDLE_MESSAGE), "{foreign}");
        }
    }
    matrix.row(
        backend,
        &intruder.name,
        "nothing (holds others' handles)",
        "every tool",
        "the unknown-handle answer, byte for byte",
    );

    // Revoking sub2's share revokes third's re-share too, at once, on every instance.
    let revoked = orch
        .ok("revoke_research_task_share", json!({"share": s2["share"]}))
        .await;
    assert_eq!(revoked["revoked"], 2, "{revoked}");
    for (who, handle) in [(sub2, &h2), (third, &h3)] {
        let text = who
            .refused("get_task_status", json!({"handle": handle}))
            .await;
        assert_eq!(
            text, UNKNOWN_HANDLE_MESSAGE,
            "{} after the revocation",
            who.name
        );
    }
    matrix.row(
        backend,
        &sub2.name,
        "revoked",
        "get_task_status",
        "the unknown-handle answer",
    );
    matrix.row(
        backend,
        &third.name,
        "re-share of a revoked share",
        "get_task_status",
        "the unknown-handle answer",
    );
    let text = orch
        .refused("revoke_research_task_share", json!({"share": s2["share"]}))
        .await;
    assert!(text.starts_with("unknown share"), "{text}");
    let text = sub1
        .refused("revoke_research_task_share", json!({"share": s1["share"]}))
        .await;
    assert!(
        text.starts_with("unknown share"),
        "a delegate cannot revoke the owner's share: {text}"
    );
    sub1.ok("get_task_status", json!({"handle": h1})).await;

    // A `complete` share lets its delegate complete (here a second task).
    let task2 = orch
        .ok(
            "start_research_task",
            json!({"topic": format!("{topic} (2)")}),
        )
        .await["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let s4 = orch
        .ok(
            "share_research_task",
            json!({"handle": task2, "principal": sub1.principal, "rights": "complete"}),
        )
        .await;
    let h4 = s4["handle"].as_str().unwrap().to_owned();
    let done2 = sub1
        .ok(
            "complete_research_task",
            json!({"handle": h4, "findings": ["by sub-agent"]}),
        )
        .await;
    assert_eq!(done2["status"], "complete");
    matrix.row(
        backend,
        &sub1.name,
        "complete",
        "complete_research_task",
        "ok",
    );
    let text = sub1
        .refused("cancel_research_task", json!({"handle": h4}))
        .await;
    assert_eq!(text, "cannot cancel the task: the task is already complete");
    matrix.row(
        backend,
        &sub1.name,
        "complete",
        "cancel_research_task",
        "allowed (refused only because the task is final)",
    );
    let status2 = orch.ok("get_task_status", json!({"handle": task2})).await;
    assert_eq!(
        (&status2["status"], &status2["findings_count"]),
        (&json!("complete"), &json!(1))
    );

    // The orchestrator completes; sub1 reads the whole result.
    let done = orch
        .ok(
            "complete_research_task",
            json!({"handle": task, "findings": ["summary"]}),
        )
        .await;
    assert_eq!(done["result_count"], 3);
    let results = sub1.ok("get_task_results", json!({"handle": h1})).await;
    assert_eq!(results["status"], "complete");
    let texts: Vec<&str> = results["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["finding one", "finding two", "summary"]);
    Made {
        handles: vec![task, h1, h2, h3, task2, h4],
    }
}

fn secrets_of(keys: &[&baton_e2e::support::auth::ApiKey], made: &[Made]) -> Vec<Secret> {
    let mut secrets = Vec::new();
    for key in keys {
        secrets.extend(Secret::api_key(key));
    }
    for m in made {
        for handle in &m.handles {
            secrets.extend(Secret::handle(handle));
        }
    }
    secrets
}

/// The options of a pair of instances with API keys.
fn pair() -> FleetOptions<'static> {
    FleetOptions {
        instances: 2,
        nginx: false,
        proxy: false,
        extra_args: &["--auth", "api-key"],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_and_sub_agents_on_a_postgres_pair() {
    let Some(fleet) = Fleet::start(pair()) else {
        return;
    };
    let db = fleet.db().url(None);
    on_a_pair(&fleet, &db, "Postgres pair").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_and_sub_agents_on_a_redis_pair() {
    let Some(store) = RedisDatabase::on_machine() else {
        return;
    };
    let Some(fleet) = Fleet::start_on_redis(store, pair()) else {
        return;
    };
    let db = fleet.redis().url.clone();
    on_a_pair(&fleet, &db, "Redis pair").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_and_sub_agents_on_a_redis_cluster_pair() {
    let Some(store) = tokio::task::block_in_place(RedisDatabase::on_new_cluster) else {
        return;
    };
    let Some(fleet) = Fleet::start_on_redis(store, pair()) else {
        return;
    };
    let db = fleet.redis().url.clone();
    on_a_pair(&fleet, &db, "Redis Cluster pair").await;
}

/// The scenario on the two instances of `fleet`, whose database `db` names (for
/// `baton token create`), then the audit trail and the logs.
async fn on_a_pair(fleet: &Fleet, db: &str, backend: &str) {
    let keys: Vec<_> = ["orchestrator", "sub-agent-1", "sub-agent-2", "mallory"]
        .iter()
        .map(|name| create_api_key(db, name, &[], None))
        .collect();
    let (one, two) = (fleet.url(0), fleet.url(1));
    let caller = |i: usize, url: &str| {
        Caller::new(
            &format!("{}@{}", keys[i].principal, if url == one { 1 } else { 2 }),
            &keys[i].principal,
            &keys[i].key,
            url,
        )
    };
    // The orchestrator on instance 1, the sub-agents on instance 2 (and one on 1), the
    // third principal of the re-share is mallory's first role; the intruder presents
    // everyone's handles on instance 2.
    let orch = caller(0, &one);
    let sub1 = caller(1, &two);
    let sub2 = caller(2, &two);
    let third = caller(3, &one);
    let intruder = Caller::new(
        "key:intruder@2",
        "key:intruder",
        &create_api_key(db, "intruder", &[], None).key,
        &two,
    );
    let mut matrix = Matrix::default();
    let made = scenario(backend, &orch, &sub1, &sub2, &third, &intruder, &mut matrix).await;
    matrix.print();

    let logs = fleet.logs();
    for action in [
        "share_research_task",
        "add_findings",
        "revoke_research_task_share",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains("baton::audit") && l.contains(action)),
            "no audit event for {action} in the logs"
        );
    }
    assert_no_secrets(
        &logs,
        &secrets_of(&keys.iter().collect::<Vec<_>>(), &[made]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_and_sub_agents_on_sqlite_with_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path());
    let names = [
        "orchestrator",
        "sub-agent-1",
        "sub-agent-2",
        "reader",
        "intruder",
    ];
    let keys: Vec<_> = names
        .iter()
        .map(|name| create_api_key(&db, name, &[], None))
        .collect();
    let server = Server::sqlite(dir.path(), &["--auth", "api-key"]);
    let url = server.url();
    let callers: Vec<Caller> = keys
        .iter()
        .map(|k| Caller::new(&k.principal, &k.principal, &k.key, &url))
        .collect();

    // A share of the shortest life, made first so that it ends during the scenario.
    let orch = &callers[0];
    let short_task = orch
        .ok("start_research_task", json!({"topic": "short share"}))
        .await["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let short = orch
        .ok(
            "share_research_task",
            json!({"handle": short_task, "principal": callers[3].principal,
                   "rights": "read", "expires_in": 60}),
        )
        .await;
    let short_handle = short["handle"].as_str().unwrap().to_owned();
    let shared_at = Instant::now();
    callers[3]
        .ok("get_task_status", json!({"handle": short_handle}))
        .await;
    let text = orch
        .refused(
            "share_research_task",
            json!({"handle": short_task, "principal": callers[3].principal,
                   "rights": "read", "expires_in": 59}),
        )
        .await;
    assert_eq!(
        text,
        "invalid argument `expires_in`: must be between 60 and 604800 seconds, got 59"
    );

    let mut matrix = Matrix::default();
    let made = scenario(
        "SQLite",
        &callers[0],
        &callers[1],
        &callers[2],
        &callers[3],
        &callers[4],
        &mut matrix,
    )
    .await;

    // The short share ends after its 60 seconds (waited for, not raced).
    let ended = wait::until(Duration::from_secs(120), || {
        let (c, h) = (&callers[3], short_handle.clone());
        async move {
            matches!(
                c.call("get_task_status", json!({"handle": h})).await,
                Outcome::ToolError(t) if t == UNKNOWN_HANDLE_MESSAGE
            )
        }
    })
    .await;
    assert!(
        ended.is_some(),
        "the 60-second share still works after 120 s"
    );
    let lived = shared_at.elapsed();
    assert!(
        lived >= Duration::from_secs(58),
        "the 60-second share ended after only {lived:?}"
    );
    println!(
        "the 60-second share ended {:.1} s after it was made",
        lived.as_secs_f64()
    );
    matrix.row(
        "SQLite",
        &callers[3].name,
        "read (expired)",
        "get_task_status",
        "the unknown-handle answer",
    );
    orch.ok("get_task_status", json!({"handle": short_task}))
        .await;
    matrix.print();

    let logs = server.terminate(DEADLINE).logs;
    assert!(
        logs.lines()
            .any(|l| l.contains("baton::audit") && l.contains("missing right")),
        "no audit event for a refused use"
    );
    let mut made = vec![made];
    made.push(Made {
        handles: vec![short_task, short_handle],
    });
    assert_no_secrets(&logs, &secrets_of(&keys.iter().collect::<Vec<_>>(), &made));
}
