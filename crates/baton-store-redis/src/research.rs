//! [`ResearchStore`] and [`BulkImport`] on Redis: one script per change.

use std::collections::BTreeMap;

use async_trait::async_trait;
use baton_store::rules::{
    Observed, expiry_after_write, explain_refusal, hard_expiry, refreshed_expiry,
    truncate_to_millis,
};
use baton_store::{
    Appended, BulkImport, Finding, FindingLimits, FindingsBatch, FindingsPage, NewResearchTask,
    Quota, ResearchListCursor, ResearchStatus, ResearchStore, ResearchTask, ResearchTaskId,
    ResearchTasksPage, StartOutcome, StoreError, StoreErrorKind,
};
use chrono::{DateTime, TimeZone, Utc};
use data_encoding::HEXLOWER;
use redis::AsyncCommands;

use crate::error::{Access, corrupt, from_redis};
use crate::keys::{OwnerKeys, id_from_hex, id_hex, list_member};
use crate::scripts::{CHANGE, IMPORT_ONE, PAGE, REFRESH, START, SWEEP_ONE, TASK_FIELDS};
use crate::{KEY_GRACE_MS, RedisStore};

/// How many times a start retries when its idempotency key moved under it.
const MAX_RACE_RETRIES: usize = 5;

/// How many list members one listing round trip reads.
const LIST_CHUNK: usize = 64;

/// The most sweeper rounds one `sweep_expired` call makes.
const MAX_SWEEP_ROUNDS: usize = 1_000;

/// Tasks per pipeline in a bulk import.
const IMPORT_CHUNK: usize = 1_000;

fn ms(t: DateTime<Utc>) -> i64 {
    truncate_to_millis(t).timestamp_millis()
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    text.parse::<i64>()
        .ok()
        .and_then(|v| Utc.timestamp_millis_opt(v).single())
        .ok_or_else(|| corrupt(format!("task {field} {text:?}")))
}

/// A task from the nine fields a script returns ([`TASK_FIELDS`]).
fn task_from(id: ResearchTaskId, f: &[String]) -> Result<ResearchTask, StoreError> {
    if f.len() < TASK_FIELDS.len() {
        return Err(corrupt("short task reply"));
    }
    let depth = f[2]
        .parse::<u8>()
        .map_err(|_| corrupt(format!("task depth {:?}", f[2])))?;
    let status =
        ResearchStatus::parse(&f[3]).ok_or_else(|| corrupt(format!("task status {:?}", f[3])))?;
    let findings_count = f[4]
        .parse::<u32>()
        .map_err(|_| corrupt(format!("findings count {:?}", f[4])))?;
    Ok(ResearchTask {
        id,
        owner: f[0].clone(),
        topic: f[1].clone(),
        depth,
        status,
        findings_count,
        created_at: time("created", &f[5])?,
        updated_at: time("updated", &f[6])?,
        expires_at: time("expires", &f[7])?,
        hard_expires_at: time("hard", &f[8])?,
    })
}

/// The first element of a script's reply: what happened.
fn tag(reply: &[String]) -> &str {
    reply.first().map_or("", String::as_str)
}

fn count(text: &str) -> Result<u64, StoreError> {
    text.parse::<u64>()
        .map_err(|_| corrupt(format!("counter {text:?}")))
}

impl RedisStore {
    fn owner_keys(&self, owner: &str) -> OwnerKeys {
        self.layout.owner(owner)
    }

    /// Runs `CHANGE` for append, complete and cancel; explains a refusal with the shared
    /// rules.
    async fn change(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        status: ResearchStatus,
        now: DateTime<Utc>,
    ) -> Result<(ResearchTask, Option<(String, u32)>), StoreError> {
        let operation = match status {
            ResearchStatus::Running => "append_findings",
            ResearchStatus::Complete => "complete",
            _ => "cancel",
        };
        let now = truncate_to_millis(now);
        let hex = id_hex(id);
        let keys = self.owner_keys(owner);
        let bytes = batch.bytes();
        let idle_deadline = ms(expiry_after_write(
            now,
            DateTime::<Utc>::MAX_UTC,
            &self.lifetimes,
        ));
        let digest = batch.digest();
        let mut invocation = CHANGE.prepare_invoke();
        invocation
            .key(keys.task(&hex))
            .key(keys.findings(&hex))
            .key(keys.append_keys(&hex))
            .key(keys.meta())
            .key(keys.bytes())
            .key(keys.list(Some(ResearchStatus::Running)))
            .key(keys.list(Some(status)))
            .arg(&hex)
            .arg(owner)
            .arg(now.timestamp_millis())
            .arg(idle_deadline)
            .arg(batch.limits.per_task)
            .arg(status.as_str())
            .arg(batch.limits.owner_bytes.to_string())
            .arg(bytes.to_string())
            .arg(batch.idempotency_key.unwrap_or(""))
            .arg(HEXLOWER.encode(&digest))
            .arg(KEY_GRACE_MS);
        for finding in batch.findings {
            invocation.arg(finding.as_str());
        }
        let mut conn = self.conn();
        let reply: Vec<String> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis(operation, Access::Write, e))?;
        match tag(&reply) {
            "ok" => Ok((task_from(*id, &reply[1..])?, None)),
            "replay" => {
                let task = task_from(*id, &reply[1..])?;
                let prev = reply.get(10).ok_or_else(|| corrupt("replay without key"))?;
                let (digest, last) = prev
                    .split_once(':')
                    .ok_or_else(|| corrupt("append key record"))?;
                let last = last
                    .parse::<u32>()
                    .map_err(|_| corrupt(format!("append key index {last:?}")))?;
                Ok((task, Some((digest.to_owned(), last))))
            }
            "nf" => Err(StoreError::not_found()),
            "refused" => {
                let status = reply
                    .get(1)
                    .and_then(|s| ResearchStatus::parse(s))
                    .ok_or_else(|| corrupt("refusal status"))?;
                let findings_count = reply
                    .get(2)
                    .map(|c| count(c))
                    .transpose()?
                    .and_then(|c| u32::try_from(c).ok())
                    .ok_or_else(|| corrupt("refusal count"))?;
                let owner_bytes = reply.get(3).map(|c| count(c)).transpose()?.unwrap_or(0);
                let observed = Observed {
                    status,
                    findings_count,
                    owner_bytes,
                };
                explain_refusal(Some(observed), batch.findings.len(), bytes, batch.limits)?;
                // The script refused what the rules accept: they disagree, a bug.
                Err(StoreError::new(
                    StoreErrorKind::Internal,
                    format!("redis {operation} refused a change the rules allow"),
                ))
            }
            other => Err(corrupt(format!("{operation} reply {other:?}"))),
        }
    }

    /// Stores the refreshed idle deadline of `task` when a read at `now` finds it lagging.
    async fn refresh_on_read(
        &self,
        task: ResearchTask,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let Some(target) =
            refreshed_expiry(task.expires_at, task.hard_expires_at, now, &self.lifetimes)
        else {
            return Ok(task);
        };
        let hex = id_hex(&task.id);
        let keys = self.owner_keys(&task.owner);
        let mut conn = self.conn();
        let reply: Vec<String> = REFRESH
            .key(keys.task(&hex))
            .key(keys.findings(&hex))
            .key(keys.append_keys(&hex))
            .arg(&task.owner)
            .arg(target.timestamp_millis())
            .arg(now.timestamp_millis())
            .arg(KEY_GRACE_MS)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("refresh expiry", Access::Write, e))?;
        match tag(&reply) {
            "ok" => task_from(task.id, &reply[1..]),
            "nf" => Err(StoreError::not_found()),
            other => Err(corrupt(format!("refresh reply {other:?}"))),
        }
    }

    /// Reads a task's fields without changing anything; `None` unless it is a live task of
    /// `owner`'s.
    async fn read_task(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<Option<ResearchTask>, StoreError> {
        let keys = self.owner_keys(owner);
        let mut conn = self.conn();
        let fields: Vec<Option<String>> = conn
            .hmget(keys.task(&id_hex(id)), &TASK_FIELDS[..])
            .await
            .map_err(|e| from_redis("get", Access::Read, e))?;
        live_task(*id, owner, fields, now)
    }
}

/// A task from `HMGET` of [`TASK_FIELDS`], if it is a live task of `owner`'s.
fn live_task(
    id: ResearchTaskId,
    owner: &str,
    fields: Vec<Option<String>>,
    now: DateTime<Utc>,
) -> Result<Option<ResearchTask>, StoreError> {
    if fields.first().and_then(Option::as_deref) != Some(owner) {
        return Ok(None);
    }
    let fields: Option<Vec<String>> = fields.into_iter().collect();
    let Some(fields) = fields else {
        return Err(corrupt("task without all its fields"));
    };
    let task = task_from(id, &fields)?;
    Ok((task.expires_at > now).then_some(task))
}

#[async_trait]
impl ResearchStore for RedisStore {
    async fn start(
        &self,
        new: NewResearchTask,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, StoreError> {
        let now = truncate_to_millis(now);
        let hard = truncate_to_millis(hard_expiry(now, &self.lifetimes));
        let expires = truncate_to_millis(expiry_after_write(now, hard, &self.lifetimes));
        let hex = id_hex(&new.id);
        let keys = self.owner_keys(&new.owner);
        let member = list_member(now, &new.id);
        let sweep_member = keys.sweep_member(&hex);
        let mut conn = self.conn();
        // The sweeper's hint goes first: a task never exists without one.
        let _: () = conn
            .zadd(
                self.layout.sweep(),
                &sweep_member,
                expires.timestamp_millis(),
            )
            .await
            .map_err(|e| from_redis("start", Access::Write, e))?;
        let key = new.idempotency_key.as_deref().unwrap_or("");
        let mut expected = String::new();
        for _ in 0..MAX_RACE_RETRIES {
            let expected_key = if expected.is_empty() {
                keys.task(&hex)
            } else {
                keys.task(&expected)
            };
            let reply: Vec<String> = START
                .key(keys.task(&hex))
                .key(keys.start_keys())
                .key(keys.meta())
                .key(keys.list(None))
                .key(keys.list(Some(ResearchStatus::Running)))
                .key(expected_key)
                .arg(&hex)
                .arg(&new.owner)
                .arg(&new.topic)
                .arg(new.depth)
                .arg(now.timestamp_millis())
                .arg(expires.timestamp_millis())
                .arg(hard.timestamp_millis())
                .arg(key)
                .arg(new.max_live_tasks.to_string())
                .arg(&expected)
                .arg(&member)
                .arg(expires.timestamp_millis() + KEY_GRACE_MS)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| from_redis("start", Access::Write, e))?;
            let outcome = match tag(&reply) {
                "created" => {
                    return Ok(StartOutcome {
                        task: task_from(new.id, &reply[1..])?,
                        replayed: false,
                    });
                }
                "moved" => {
                    expected = reply.get(1).cloned().unwrap_or_default();
                    continue;
                }
                "existing" => {
                    let existing = id_from_hex(&expected)
                        .ok_or_else(|| corrupt(format!("idempotency key names {expected:?}")))?;
                    let task = task_from(existing, &reply[1..])?;
                    if task.topic != new.topic || task.depth != new.depth {
                        Err(StoreError::idempotency_conflict())
                    } else {
                        Ok(StartOutcome {
                            task,
                            replayed: true,
                        })
                    }
                }
                "quota" => Err(StoreError::quota_exceeded(Quota::LiveTasks {
                    limit: new.max_live_tasks,
                })),
                "exists" => Err(StoreError::new(
                    StoreErrorKind::Internal,
                    "redis: a research task with this id exists already",
                )),
                other => Err(corrupt(format!("start reply {other:?}"))),
            };
            // Nothing was created: the hint can go (the sweeper would drop it anyway).
            let _: Result<(), _> = conn.zrem(self.layout.sweep(), &sweep_member).await;
            return outcome;
        }
        Err(StoreError::lost_races("start"))
    }

    async fn get(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let now = truncate_to_millis(now);
        let task = self
            .read_task(owner, id, now)
            .await?
            .ok_or_else(StoreError::not_found)?;
        self.refresh_on_read(task, now).await
    }

    async fn append_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        batch: FindingsBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        let (task, replay) = self
            .change(owner, id, batch, ResearchStatus::Running, now)
            .await?;
        match replay {
            None => Ok(Appended {
                last_index: task.findings_count,
                task,
                replayed: false,
            }),
            Some((digest, last_index)) => {
                if digest != HEXLOWER.encode(&batch.digest()) {
                    return Err(StoreError::idempotency_conflict());
                }
                Ok(Appended {
                    task,
                    last_index,
                    replayed: true,
                })
            }
        }
    }

    async fn complete(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        findings: &[String],
        limits: FindingLimits,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let batch = FindingsBatch::new(findings, limits);
        let (task, _) = self
            .change(owner, id, batch, ResearchStatus::Complete, now)
            .await?;
        Ok(task)
    }

    async fn cancel(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<ResearchTask, StoreError> {
        let batch = FindingsBatch::new(&[], FindingLimits::per_task(u32::MAX));
        let (task, _) = self
            .change(owner, id, batch, ResearchStatus::Cancelled, now)
            .await?;
        Ok(task)
    }

    async fn list_findings(
        &self,
        owner: &str,
        id: &ResearchTaskId,
        after: u32,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<FindingsPage, StoreError> {
        let now = truncate_to_millis(now);
        let hex = id_hex(id);
        let keys = self.owner_keys(owner);
        let mut conn = self.conn();
        let reply: Vec<String> = PAGE
            .key(keys.task(&hex))
            .key(keys.findings(&hex))
            .arg(owner)
            .arg(now.timestamp_millis())
            .arg(after)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("list_findings", Access::Read, e))?;
        match tag(&reply) {
            "ok" => {}
            "nf" => return Err(StoreError::not_found()),
            other => return Err(corrupt(format!("list_findings reply {other:?}"))),
        }
        let task = task_from(*id, &reply[1..])?;
        let findings = reply[1 + TASK_FIELDS.len()..]
            .iter()
            .zip(after.saturating_add(1)..)
            .map(|(text, index)| Finding {
                index,
                text: text.clone(),
            })
            .collect();
        let task = self.refresh_on_read(task, now).await?;
        Ok(FindingsPage::new(task, findings, after))
    }

    async fn list(
        &self,
        owner: &str,
        status: Option<ResearchStatus>,
        after: Option<&ResearchListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<ResearchTasksPage, StoreError> {
        let now = truncate_to_millis(now);
        if limit == 0 {
            return Ok(ResearchTasksPage {
                tasks: Vec::new(),
                next: None,
            });
        }
        let keys = self.owner_keys(owner);
        let index = keys.list(status);
        let want = limit as usize + 1;
        let mut start = match after {
            Some(cursor) => format!("({}", list_member(cursor.created_at, &cursor.id)),
            None => "+".to_owned(),
        };
        let mut tasks = Vec::new();
        let mut conn = self.conn();
        let err = |e| from_redis("list", Access::Read, e);
        // Each round reads further down the index; expired or moved members are skipped.
        loop {
            let chunk = (want - tasks.len()).clamp(LIST_CHUNK / 4, LIST_CHUNK);
            let members: Vec<String> = conn
                .zrevrangebylex_limit(&index, &start, "-", 0, chunk as isize)
                .await
                .map_err(err)?;
            let ids = members
                .iter()
                .map(|m| {
                    m.split_once(':')
                        .and_then(|(_, hex)| id_from_hex(hex))
                        .ok_or_else(|| corrupt(format!("list member {m:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.hmget(keys.task(&id_hex(id)), &TASK_FIELDS[..]);
            }
            let rows: Vec<Vec<Option<String>>> = if ids.is_empty() {
                Vec::new()
            } else {
                pipe.query_async(&mut conn).await.map_err(err)?
            };
            for (id, fields) in ids.into_iter().zip(rows) {
                if let Some(task) = live_task(id, owner, fields, now)?
                    && status.is_none_or(|s| s == task.status)
                {
                    tasks.push(task);
                    if tasks.len() == want {
                        break;
                    }
                }
            }
            match members.last() {
                Some(last) if members.len() == chunk && tasks.len() < want => {
                    start = format!("({last}");
                }
                _ => break,
            }
        }
        Ok(ResearchTasksPage::from_overfetch(tasks, limit))
    }

    async fn sweep_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let now = truncate_to_millis(now);
        let err = |e| from_redis("sweep_expired", Access::Write, e);
        let worklist = self.layout.sweep();
        let mut conn = self.conn();
        let mut deleted = 0u64;
        for _ in 0..MAX_SWEEP_ROUNDS {
            if deleted >= u64::from(batch) {
                break;
            }
            let due: Vec<String> = conn
                .zrangebyscore_limit(
                    &worklist,
                    "-inf",
                    now.timestamp_millis(),
                    0,
                    (u64::from(batch) - deleted) as isize,
                )
                .await
                .map_err(err)?;
            if due.is_empty() {
                break;
            }
            for member in &due {
                let Some((owner_tag, hex)) = member.split_once(':') else {
                    let _: () = conn.zrem(&worklist, member).await.map_err(err)?;
                    continue;
                };
                let keys = self.layout.owner_by_tag(owner_tag);
                let reply: Vec<String> = SWEEP_ONE
                    .key(keys.task(hex))
                    .key(keys.findings(hex))
                    .key(keys.append_keys(hex))
                    .key(keys.meta())
                    .key(keys.bytes())
                    .key(keys.start_keys())
                    .key(keys.list(None))
                    .key(keys.list(Some(ResearchStatus::Running)))
                    .key(keys.list(Some(ResearchStatus::Complete)))
                    .key(keys.list(Some(ResearchStatus::Cancelled)))
                    .arg(hex)
                    .arg(now.timestamp_millis())
                    .invoke_async(&mut conn)
                    .await
                    .map_err(err)?;
                match tag(&reply) {
                    "deleted" => {
                        deleted += 1;
                        let _: () = conn.zrem(&worklist, member).await.map_err(err)?;
                    }
                    "gone" => {
                        let _: () = conn.zrem(&worklist, member).await.map_err(err)?;
                    }
                    "live" => {
                        let expires = reply
                            .get(1)
                            .and_then(|e| e.parse::<i64>().ok())
                            .ok_or_else(|| corrupt("sweep expiry"))?;
                        let _: () = conn.zadd(&worklist, member, expires).await.map_err(err)?;
                    }
                    other => return Err(corrupt(format!("sweep reply {other:?}"))),
                }
            }
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ping_server().await
    }
}

#[async_trait]
impl BulkImport for RedisStore {
    async fn import_research_tasks(&self, tasks: &[ResearchTask]) -> Result<u64, StoreError> {
        let err = |e| from_redis("import_research_tasks", Access::Write, e);
        let mut conn = self.conn();
        let mut written = 0u64;
        // Hints first, as for a start (one key: any pipeline of them is one slot).
        for chunk in tasks.chunks(IMPORT_CHUNK) {
            let mut hints = redis::pipe();
            for t in chunk {
                let keys = self.owner_keys(&t.owner);
                hints
                    .zadd(
                        self.layout.sweep(),
                        keys.sweep_member(&id_hex(&t.id)),
                        ms(t.expires_at),
                    )
                    .ignore();
            }
            let _: () = hints.query_async(&mut conn).await.map_err(err)?;
        }
        // Loaded first, so the pipelines' EVALSHAs find it (also after a restart that
        // emptied the script cache).
        IMPORT_ONE.load_async(&mut conn).await.map_err(err)?;
        // One pipeline per owner (and chunk): its keys share one slot, as a cluster needs.
        let mut by_owner: BTreeMap<&str, Vec<&ResearchTask>> = BTreeMap::new();
        for t in tasks {
            by_owner.entry(t.owner.as_str()).or_default().push(t);
        }
        for chunk in by_owner.values().flat_map(|ts| ts.chunks(IMPORT_CHUNK)) {
            let mut pipe = redis::pipe();
            for &t in chunk {
                let hex = id_hex(&t.id);
                let keys = self.owner_keys(&t.owner);
                let created = truncate_to_millis(t.created_at);
                pipe.invoke_script(
                    IMPORT_ONE
                        .key(keys.task(&hex))
                        .key(keys.meta())
                        .key(keys.list(None))
                        .key(keys.list(Some(t.status)))
                        .arg(&hex)
                        .arg(&t.owner)
                        .arg(&t.topic)
                        .arg(t.depth)
                        .arg(t.status.as_str())
                        .arg(t.findings_count)
                        .arg(created.timestamp_millis())
                        .arg(ms(t.updated_at))
                        .arg(ms(t.expires_at))
                        .arg(ms(t.hard_expires_at))
                        .arg(list_member(created, &t.id))
                        .arg(ms(t.expires_at).saturating_add(KEY_GRACE_MS)),
                );
            }
            let results: Vec<u64> = pipe.query_async(&mut conn).await.map_err(err)?;
            written += results.iter().sum::<u64>();
        }
        Ok(written)
    }
}
