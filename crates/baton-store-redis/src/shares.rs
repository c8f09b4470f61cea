//! [`ShareStore`] on Redis: a grant lives in its task owner's slot (so creation, the chain
//! walk of a resolution and a cascading revocation are each one script), with two indexes
//! outside it for the callers that know only the grant's id (`gidx`) or its delegate
//! (`sh`). The indexes are written first; an entry whose grant is gone is skipped by its
//! reader and dropped.

use async_trait::async_trait;
use baton_store::rules::truncate_to_millis;
use baton_store::{
    Access, Grant, GrantId, NewGrant, Quota, ResearchStatus, ResearchTaskId, ShareRight,
    ShareStore, SharedListCursor, SharedTask, SharedTasksPage, StoreError, StoreErrorKind,
};
use chrono::{DateTime, Utc};
use data_encoding::HEXLOWER;
use redis::AsyncCommands;

use crate::error::{Access as Io, corrupt, from_redis};
use crate::keys::{OwnerKeys, id_from_hex, id_hex, owner_tag};
use crate::research::{ms, tag, task_from, time};
use crate::scripts::{
    CREATE_GRANT, GRANT_FIELDS, GRANTS_OF, INDEX_SHARE, RESOLVE_GRANT, REVOKE_GRANT, SHARED_VIEW,
    SWEEP_GRANT, TASK_FIELDS,
};
use crate::{KEY_GRACE_MS, RedisStore};

/// How many index members one `shared_with` round reads.
const SHARED_CHUNK: usize = 64;

/// The most rounds one `shared_with` call makes (each reads up to [`SHARED_CHUNK`]).
const MAX_SHARED_ROUNDS: usize = 10_000;

/// The most sweeper rounds one `sweep_grants` call makes.
const MAX_SWEEP_ROUNDS: usize = 1_000;

/// Strings per grant in a script's reply: the id and [`GRANT_FIELDS`].
const GRANT_REPLY: usize = 1 + GRANT_FIELDS.len();

fn gid_hex(id: &GrantId) -> String {
    HEXLOWER.encode(id.as_bytes())
}

fn gid_from_hex(what: &str, hex: &str) -> Result<GrantId, StoreError> {
    HEXLOWER
        .decode(hex.as_bytes())
        .ok()
        .and_then(|b| GrantId::from_slice(&b))
        .ok_or_else(|| corrupt(format!("grant {what} {hex:?}")))
}

/// A member of a delegate's shared-grants index: creation time (ms, 16 digits), grant id,
/// owner tag; text order is listing order (newest first when read in reverse).
fn shared_member(created_ms: i64, gid: &str, owner_tag: &str) -> String {
    format!("{:016}:{gid}:{owner_tag}", created_ms.max(0))
}

/// A grant from a script's eleven strings: the id, then [`GRANT_FIELDS`].
fn grant_from(f: &[String]) -> Result<Grant, StoreError> {
    if f.len() < GRANT_REPLY {
        return Err(corrupt("short grant reply"));
    }
    let right =
        ShareRight::parse(&f[5]).ok_or_else(|| corrupt(format!("grant access {:?}", f[5])))?;
    let parent = match f[7].as_str() {
        "" => None,
        p => Some(gid_from_hex("parent", p)?),
    };
    Ok(Grant {
        id: gid_from_hex("id", &f[0])?,
        task: id_from_hex(&f[1]).ok_or_else(|| corrupt(format!("grant task {:?}", f[1])))?,
        owner: f[2].clone(),
        grantor: f[3].clone(),
        delegate: f[4].clone(),
        access: Access {
            right,
            reshare: f[6] == "1",
        },
        parent,
        depth: f[8]
            .parse::<u8>()
            .map_err(|_| corrupt(format!("grant depth {:?}", f[8])))?,
        created_at: time("grant created", &f[9])?,
        expires_at: time("grant expires", &f[10])?,
    })
}

impl RedisStore {
    /// The keys of the owner of grant `gid` (hex), from the grant index; `None` when the
    /// index names no owner.
    async fn grant_owner(&self, gid: &str, op: &str) -> Result<Option<OwnerKeys>, StoreError> {
        let mut conn = self.conn();
        let tag: Option<String> = conn
            .get(self.layout.grant_index(gid))
            .await
            .map_err(|e| from_redis(op, Io::Read, e))?;
        Ok(tag.map(|t| self.layout.owner_by_tag(&t)))
    }

    /// Drops the index entries (grant index, delegate's listing, grant sweeper's worklist)
    /// of deleted grants: `triples` is `<grant id> <delegate> <created>`… as the sweepers'
    /// scripts reply.
    pub(crate) async fn forget_grants(
        &self,
        owner: &str,
        triples: &[String],
    ) -> Result<(), StoreError> {
        let err = |e| from_redis("sweep", Io::Write, e);
        let keys = self.layout.owner_by_tag(owner);
        let mut conn = self.conn();
        for t in triples.chunks(3) {
            let [gid, delegate, created] = t else {
                return Err(corrupt("sweep reply: grant triple"));
            };
            let created = created
                .parse::<i64>()
                .map_err(|_| corrupt(format!("grant created {created:?}")))?;
            let shared = self.layout.owner_by_tag(&owner_tag(delegate)).shared();
            let _: () = conn
                .zrem(shared, shared_member(created, gid, owner))
                .await
                .map_err(err)?;
            let _: () = conn.del(self.layout.grant_index(gid)).await.map_err(err)?;
            let _: () = conn
                .zrem(self.layout.grant_sweep(), keys.sweep_member(gid))
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    /// Removes the index entries a refused creation wrote (best effort: readers skip
    /// entries whose grant does not exist).
    async fn drop_grant_indexes(&self, gid: &str, index_set: bool, shared: (&str, &str)) {
        let mut conn = self.conn();
        if index_set {
            let _: Result<(), _> = conn.del(self.layout.grant_index(gid)).await;
        }
        let _: Result<(), _> = conn.zrem(shared.0, shared.1).await;
    }
}

#[async_trait]
impl ShareStore for RedisStore {
    async fn create_grant(&self, new: NewGrant, now: DateTime<Utc>) -> Result<Grant, StoreError> {
        let op = "create_grant";
        let err = |e| from_redis(op, Io::Write, e);
        let now = truncate_to_millis(now);
        let expires_at = truncate_to_millis(new.expires_at);
        let gid = gid_hex(&new.id);
        let task_hex = id_hex(&new.task);
        let keys = self.layout.owner(&new.owner);
        let shared_index = self.layout.owner(&new.delegate).shared();
        let member = shared_member(ms(now), &gid, &keys.tag);
        let key_expiry = ms(expires_at).saturating_add(KEY_GRACE_MS);
        let mut conn = self.conn();
        // The indexes first: a grant never exists without them.
        let index_set: bool = redis::cmd("SET")
            .arg(self.layout.grant_index(&gid))
            .arg(&keys.tag)
            .arg("NX")
            .arg("PXAT")
            .arg(key_expiry)
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(err)?
            .is_some();
        if !index_set {
            let held: Option<String> =
                conn.get(self.layout.grant_index(&gid)).await.map_err(err)?;
            if held.as_deref() != Some(keys.tag.as_str()) {
                return Err(StoreError::new(
                    StoreErrorKind::Internal,
                    "redis: a grant with this id exists already",
                ));
            }
        }
        let _: i64 = INDEX_SHARE
            .key(&shared_index)
            .arg(&member)
            .arg(key_expiry)
            .invoke_async(&mut conn)
            .await
            .map_err(err)?;
        let sweep_member = keys.sweep_member(&gid);
        let _: () = conn
            .zadd(self.layout.grant_sweep(), &sweep_member, ms(expires_at))
            .await
            .map_err(err)?;
        let reply: Vec<String> = CREATE_GRANT
            .key(keys.grant(&gid))
            .key(keys.task(&task_hex))
            .key(keys.task_grants(&task_hex))
            .arg(&gid)
            .arg(&task_hex)
            .arg(&new.owner)
            .arg(&new.grantor)
            .arg(&new.delegate)
            .arg(new.access.right.as_str())
            .arg(if new.access.reshare { "1" } else { "0" })
            .arg(new.parent.as_ref().map(gid_hex).unwrap_or_default())
            .arg(new.depth)
            .arg(ms(now))
            .arg(ms(expires_at))
            .arg(new.max_grants_per_task.to_string())
            .arg(keys.grant_prefix())
            .arg(keys.task_prefix())
            .arg(key_expiry)
            .invoke_async(&mut conn)
            .await
            .map_err(err)?;
        let refusal = match tag(&reply) {
            "ok" => {
                return Ok(new.stored_at(now));
            }
            "exists" => {
                // The stored grant keeps its index entries.
                return Err(StoreError::new(
                    StoreErrorKind::Internal,
                    "redis: a grant with this id exists already",
                ));
            }
            "nf" => StoreError::not_found(),
            "quota" => StoreError::quota_exceeded(Quota::GrantsPerTask {
                limit: new.max_grants_per_task,
            }),
            other => return Err(corrupt(format!("create_grant reply {other:?}"))),
        };
        self.drop_grant_indexes(&gid, index_set, (&shared_index, &member))
            .await;
        let _: Result<(), _> = conn.zrem(self.layout.grant_sweep(), &sweep_member).await;
        Err(refusal)
    }

    async fn resolve_grant(
        &self,
        id: &GrantId,
        delegate: &str,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let op = "resolve_grant";
        let gid = gid_hex(id);
        let Some(keys) = self.grant_owner(&gid, op).await? else {
            return Err(StoreError::not_found());
        };
        let mut conn = self.conn();
        let reply: Vec<String> = RESOLVE_GRANT
            .key(keys.grant(&gid))
            .arg(delegate)
            .arg(ms(now))
            .arg(keys.grant_prefix())
            .arg(keys.task_prefix())
            .arg(&gid)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis(op, Io::Read, e))?;
        match tag(&reply) {
            "ok" => grant_from(&reply[1..]),
            "nf" => Err(StoreError::not_found()),
            other => Err(corrupt(format!("resolve_grant reply {other:?}"))),
        }
    }

    async fn grants_of(
        &self,
        owner: &str,
        task: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Grant>, StoreError> {
        let keys = self.layout.owner(owner);
        let hex = id_hex(task);
        let mut conn = self.conn();
        let reply: Vec<String> = GRANTS_OF
            .key(keys.task(&hex))
            .key(keys.task_grants(&hex))
            .arg(owner)
            .arg(ms(now))
            .arg(keys.grant_prefix())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| from_redis("grants_of", Io::Read, e))?;
        if !reply.len().is_multiple_of(GRANT_REPLY) {
            return Err(corrupt("grants_of reply length"));
        }
        let mut grants = reply
            .chunks(GRANT_REPLY)
            .map(grant_from)
            .collect::<Result<Vec<_>, _>>()?;
        grants.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
        });
        Ok(grants)
    }

    async fn revoke_grant(
        &self,
        by: &str,
        id: &GrantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let op = "revoke_grant";
        let err = |e| from_redis(op, Io::Write, e);
        let now = truncate_to_millis(now);
        let gid = gid_hex(id);
        let Some(keys) = self.grant_owner(&gid, op).await? else {
            return Err(StoreError::not_found());
        };
        let mut conn = self.conn();
        let reply: Vec<String> = REVOKE_GRANT
            .key(keys.grant(&gid))
            .arg(by)
            .arg(ms(now))
            .arg(keys.grant_prefix())
            .arg(keys.task_prefix())
            .arg(keys.task_grants_prefix())
            .arg(&gid)
            .invoke_async(&mut conn)
            .await
            .map_err(err)?;
        match tag(&reply) {
            "ok" => {}
            "nf" => return Err(StoreError::not_found()),
            other => return Err(corrupt(format!("revoke_grant reply {other:?}"))),
        }
        let revoked = &reply[1..];
        if revoked.is_empty() {
            return Err(StoreError::not_found());
        }
        // Due for the sweeper now (had this failed, they would be swept at their end).
        let members: Vec<(i64, String)> = revoked
            .iter()
            .map(|g| (ms(now), keys.sweep_member(g)))
            .collect();
        let _: () = conn
            .zadd_multiple(self.layout.grant_sweep(), &members)
            .await
            .map_err(err)?;
        Ok(revoked.len() as u64)
    }

    async fn shared_with(
        &self,
        delegate: &str,
        status: Option<ResearchStatus>,
        after: Option<&SharedListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<SharedTasksPage, StoreError> {
        let op = "shared_with";
        let err = |e| from_redis(op, Io::Read, e);
        let now = truncate_to_millis(now);
        if limit == 0 {
            return Ok(SharedTasksPage {
                shared: Vec::new(),
                next: None,
            });
        }
        let index = self.layout.owner(delegate).shared();
        let want = limit as usize + 1;
        // Members are `<created>:<id>:<tag>`: `(<created>:<id>` excludes the cursor's own.
        let mut start = match after {
            Some(c) => format!("({:016}:{}", ms(c.created_at).max(0), gid_hex(&c.id)),
            None => "+".to_owned(),
        };
        let status_arg = status.map_or("", ResearchStatus::as_str);
        let mut shared = Vec::new();
        let mut gone = Vec::new();
        let mut conn = self.conn();
        for _ in 0..MAX_SHARED_ROUNDS {
            let chunk = (want - shared.len()).clamp(SHARED_CHUNK / 4, SHARED_CHUNK);
            let members: Vec<String> = conn
                .zrevrangebylex_limit(&index, &start, "-", 0, chunk as isize)
                .await
                .map_err(err)?;
            let parsed = members
                .iter()
                .map(|m| {
                    let mut parts = m.splitn(3, ':');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(_), Some(gid), Some(tag)) => Ok((gid, tag)),
                        _ => Err(corrupt(format!("shared index member {m:?}"))),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            // One script per run of members with one owner (one slot), in listing order.
            let mut i = 0;
            'chunk: while i < parsed.len() {
                let owner = parsed[i].1;
                let run_end = parsed[i..]
                    .iter()
                    .position(|(_, t)| *t != owner)
                    .map_or(parsed.len(), |n| i + n);
                let keys = self.layout.owner_by_tag(owner);
                let mut invocation = SHARED_VIEW.prepare_invoke();
                for (gid, _) in &parsed[i..run_end] {
                    invocation.key(keys.grant(gid));
                }
                invocation
                    .arg(delegate)
                    .arg(ms(now))
                    .arg(keys.grant_prefix())
                    .arg(keys.task_prefix())
                    .arg(status_arg);
                for (gid, _) in &parsed[i..run_end] {
                    invocation.arg(*gid);
                }
                let reply: Vec<String> = invocation.invoke_async(&mut conn).await.map_err(err)?;
                let mut at = 0;
                for member in &members[i..run_end] {
                    match reply.get(at).map(String::as_str) {
                        Some("gone") => {
                            gone.push(member.clone());
                            at += 1;
                        }
                        Some("skip") => at += 1,
                        Some("ok") => {
                            let end = at + 1 + GRANT_REPLY + TASK_FIELDS.len();
                            let fields = reply
                                .get(at + 1..end)
                                .ok_or_else(|| corrupt("short shared_with reply"))?;
                            let grant = grant_from(&fields[..GRANT_REPLY])?;
                            let task = task_from(grant.task, &fields[GRANT_REPLY..])?;
                            shared.push(SharedTask { grant, task });
                            at = end;
                            if shared.len() == want {
                                break 'chunk;
                            }
                        }
                        other => return Err(corrupt(format!("shared_with reply {other:?}"))),
                    }
                }
                i = run_end;
            }
            match members.last() {
                Some(last) if members.len() == chunk && shared.len() < want => {
                    start = format!("({last}");
                }
                _ => break,
            }
        }
        if !gone.is_empty() {
            // Entries of grants that no longer exist (swept, or never created).
            let _: Result<(), _> = conn.zrem(&index, &gone).await;
        }
        Ok(SharedTasksPage::from_overfetch(shared, limit))
    }

    async fn sweep_grants(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let err = |e| from_redis("sweep_grants", Io::Write, e);
        let now = truncate_to_millis(now);
        let worklist = self.layout.grant_sweep();
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
                    ms(now),
                    0,
                    (u64::from(batch) - deleted) as isize,
                )
                .await
                .map_err(err)?;
            if due.is_empty() {
                break;
            }
            for member in &due {
                let Some((tag_of_owner, gid)) = member.split_once(':') else {
                    let _: () = conn.zrem(&worklist, member).await.map_err(err)?;
                    continue;
                };
                let keys = self.layout.owner_by_tag(tag_of_owner);
                let reply: Vec<String> = SWEEP_GRANT
                    .key(keys.grant(gid))
                    .arg(ms(now))
                    .arg(gid)
                    .arg(keys.task_grants_prefix())
                    .arg(keys.task_prefix())
                    .invoke_async(&mut conn)
                    .await
                    .map_err(err)?;
                match tag(&reply) {
                    "deleted" => {
                        self.forget_grants(tag_of_owner, &reply[1..]).await?;
                        deleted += 1;
                    }
                    "gone" => {
                        let _: () = conn.del(self.layout.grant_index(gid)).await.map_err(err)?;
                        let _: () = conn.zrem(&worklist, member).await.map_err(err)?;
                    }
                    "live" => {
                        let expires = reply
                            .get(1)
                            .and_then(|e| e.parse::<i64>().ok())
                            .ok_or_else(|| corrupt("grant sweep expiry"))?;
                        let _: () = conn.zadd(&worklist, member, expires).await.map_err(err)?;
                    }
                    other => return Err(corrupt(format!("sweep_grants reply {other:?}"))),
                }
            }
        }
        Ok(deleted)
    }
}
