//! [`ShareStore`] on SQLite: grants on the write pool, one statement per change (each one
//! atomic), reads on the read pool.

use async_trait::async_trait;
use baton_store::rules::truncate_to_millis;
use baton_store::{
    Access, Grant, GrantId, NewGrant, ResearchStatus, ResearchTaskId, ShareRight, ShareStore,
    SharedListCursor, SharedTask, SharedTasksPage, StoreError, StoreErrorKind,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::error::{corrupt, db_err};
use crate::rows::{from_ms, ms, t_task_columns, task_from_row_at};

/// The columns of `research_grants` (alias `g`), in the order [`grant_from_row`] reads them.
macro_rules! g_grant_columns {
    () => {
        "g.id, g.task_id, g.owner, g.grantor, g.delegate, g.access, g.reshare, g.parent_id, g.depth, g.created_at, g.expires_at"
    };
}
const GRANT_COLUMNS: usize = 11;

/// The chain of grant `?1` up to the owner's grant, as `chain(revoked_at, expires_at)`;
/// "dead" when any link is revoked or expired at `?3`.
macro_rules! chain_of_first_param {
    () => {
        "WITH RECURSIVE chain(id, parent_id, revoked_at, expires_at, n) AS ( \
           SELECT id, parent_id, revoked_at, expires_at, 1 FROM research_grants WHERE id = ?1 \
           UNION ALL \
           SELECT g.id, g.parent_id, g.revoked_at, g.expires_at, c.n + 1 \
           FROM research_grants AS g JOIN chain AS c ON g.id = c.parent_id WHERE c.n < 255 ) "
    };
}

/// The live grant `?1` held by `?2` at `?3`, its chain and its task checked in one statement.
const RESOLVE: &str = concat!(
    chain_of_first_param!(),
    "SELECT ",
    g_grant_columns!(),
    " FROM research_grants AS g \
     JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner AND t.expires_at > ?3 \
     WHERE g.id = ?1 AND g.delegate = ?2 \
     AND NOT EXISTS (SELECT 1 FROM chain WHERE revoked_at IS NOT NULL OR expires_at <= ?3)"
);

/// Inserts a grant when the task is the owner's and live, the parent (if any) is live, on
/// the same task and held by the grantor, and the task has room for another live grant.
/// The parent's chain is `?1` here, so its id is bound first.
const CREATE: &str = concat!(
    chain_of_first_param!(),
    "INSERT INTO research_grants \
       (id, task_id, owner, grantor, delegate, access, reshare, parent_id, depth, created_at, expires_at) \
     SELECT ?2, t.id, t.owner, ?5, ?6, ?7, ?8, ?1, ?9, ?3, ?10 \
     FROM research_tasks AS t \
     WHERE t.id = ?4 AND t.owner = ?11 AND t.expires_at > ?3 \
     AND (?1 IS NULL OR ( \
          EXISTS (SELECT 1 FROM research_grants AS p \
                  WHERE p.id = ?1 AND p.task_id = ?4 AND p.delegate = ?5) \
          AND NOT EXISTS (SELECT 1 FROM chain WHERE revoked_at IS NOT NULL OR expires_at <= ?3))) \
     AND (SELECT count(*) FROM research_grants AS l \
          WHERE l.task_id = ?4 AND l.revoked_at IS NULL AND l.expires_at > ?3) < ?12"
);

const GRANTS_OF: &str = concat!(
    "SELECT ",
    g_grant_columns!(),
    " FROM research_grants AS g \
     JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner AND t.expires_at > ?3 \
     WHERE g.task_id = ?1 AND g.owner = ?2 AND g.revoked_at IS NULL AND g.expires_at > ?3 \
     ORDER BY g.created_at, g.id"
);

/// Revokes grant `?1` (if `?2` owns its task or made it, and it is live) and every live
/// grant below it.
const REVOKE: &str = "WITH RECURSIVE sub(id) AS ( \
       SELECT g.id FROM research_grants AS g \
       JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner AND t.expires_at > ?3 \
       WHERE g.id = ?1 AND (g.owner = ?2 OR g.grantor = ?2) \
       AND g.revoked_at IS NULL AND g.expires_at > ?3 \
       UNION \
       SELECT g.id FROM research_grants AS g JOIN sub ON g.parent_id = sub.id ) \
     UPDATE research_grants SET revoked_at = ?3 \
     WHERE id IN (SELECT id FROM sub) AND revoked_at IS NULL AND expires_at > ?3";

const SHARED_WITH: &str = concat!(
    "SELECT ",
    g_grant_columns!(),
    ", ",
    t_task_columns!(),
    " FROM research_grants AS g \
     JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner \
     WHERE g.delegate = ?1 AND g.revoked_at IS NULL AND g.expires_at > ?2 AND t.expires_at > ?2 \
     AND (?3 IS NULL OR t.status = ?3) \
     AND (?5 IS NULL OR (g.created_at, g.id) < (?5, ?6)) \
     ORDER BY g.created_at DESC, g.id DESC LIMIT ?4"
);

const SWEEP: &str = "DELETE FROM research_grants WHERE id IN \
     (SELECT id FROM research_grants WHERE expires_at <= ?1 OR revoked_at IS NOT NULL \
      ORDER BY expires_at LIMIT ?2)";

fn grant_from_row(row: &SqliteRow) -> Result<Grant, StoreError> {
    let get_err = |e: sqlx::Error| {
        StoreError::new(StoreErrorKind::Internal, "sqlite: corrupt grant row").with_source(e)
    };
    let id: Vec<u8> = row.try_get(0).map_err(get_err)?;
    let task: Vec<u8> = row.try_get(1).map_err(get_err)?;
    let access: String = row.try_get(5).map_err(get_err)?;
    let reshare: i64 = row.try_get(6).map_err(get_err)?;
    let parent: Option<Vec<u8>> = row.try_get(7).map_err(get_err)?;
    let depth: i64 = row.try_get(8).map_err(get_err)?;
    Ok(Grant {
        id: GrantId::from_slice(&id).ok_or_else(|| corrupt("research_grants.id"))?,
        task: ResearchTaskId::from_slice(&task)
            .ok_or_else(|| corrupt("research_grants.task_id"))?,
        owner: row.try_get(2).map_err(get_err)?,
        grantor: row.try_get(3).map_err(get_err)?,
        delegate: row.try_get(4).map_err(get_err)?,
        access: Access {
            right: ShareRight::parse(&access).ok_or_else(|| corrupt("research_grants.access"))?,
            reshare: reshare != 0,
        },
        parent: parent
            .map(|p| GrantId::from_slice(&p).ok_or_else(|| corrupt("research_grants.parent_id")))
            .transpose()?,
        depth: u8::try_from(depth).map_err(|_| corrupt("research_grants.depth"))?,
        created_at: from_ms(row.try_get(9).map_err(get_err)?)?,
        expires_at: from_ms(row.try_get(10).map_err(get_err)?)?,
    })
}

impl SqliteStore {
    /// Why a grant was not created: the task, then the parent, else the quota.
    async fn explain_refused_grant(
        &self,
        new: &NewGrant,
        now: DateTime<Utc>,
    ) -> Result<StoreError, StoreError> {
        let task_live: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM research_tasks WHERE id = ?1 AND owner = ?2 AND expires_at > ?3",
        )
        .bind(&new.task.as_bytes()[..])
        .bind(&new.owner)
        .bind(ms(now))
        .fetch_optional(&self.write)
        .await
        .map_err(db_err("explain a refused grant"))?;
        let parent = match &new.parent {
            Some(parent) => Some(self.resolve_grant(parent, &new.grantor, now).await),
            None => None,
        };
        Ok(new.refusal(task_live.is_some(), parent))
    }
}

#[async_trait]
impl ShareStore for SqliteStore {
    async fn create_grant(&self, new: NewGrant, now: DateTime<Utc>) -> Result<Grant, StoreError> {
        let now = truncate_to_millis(now);
        let expires_at = truncate_to_millis(new.expires_at);
        let limit = i64::try_from(new.max_grants_per_task).unwrap_or(i64::MAX);
        let done = sqlx::query(CREATE)
            .bind(new.parent.as_ref().map(|p| p.as_bytes().to_vec()))
            .bind(&new.id.as_bytes()[..])
            .bind(ms(now))
            .bind(&new.task.as_bytes()[..])
            .bind(&new.grantor)
            .bind(&new.delegate)
            .bind(new.access.right.as_str())
            .bind(i64::from(new.access.reshare))
            .bind(i64::from(new.depth))
            .bind(ms(expires_at))
            .bind(&new.owner)
            .bind(limit)
            .execute(&self.write)
            .await
            .map_err(db_err("create grant"))?;
        if done.rows_affected() == 0 {
            return Err(self.explain_refused_grant(&new, now).await?);
        }
        Ok(new.stored_at(now))
    }

    async fn resolve_grant(
        &self,
        id: &GrantId,
        delegate: &str,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let row = sqlx::query(RESOLVE)
            .bind(&id.as_bytes()[..])
            .bind(delegate)
            .bind(ms(now))
            .fetch_optional(&self.read)
            .await
            .map_err(db_err("resolve grant"))?;
        match row {
            Some(row) => grant_from_row(&row),
            None => Err(StoreError::not_found()),
        }
    }

    async fn grants_of(
        &self,
        owner: &str,
        task: &ResearchTaskId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(GRANTS_OF)
            .bind(&task.as_bytes()[..])
            .bind(owner)
            .bind(ms(now))
            .fetch_all(&self.read)
            .await
            .map_err(db_err("list grants"))?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_grant(
        &self,
        by: &str,
        id: &GrantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(REVOKE)
            .bind(&id.as_bytes()[..])
            .bind(by)
            .bind(ms(now))
            .execute(&self.write)
            .await
            .map_err(db_err("revoke grant"))?;
        match done.rows_affected() {
            0 => Err(StoreError::not_found()),
            n => Ok(n),
        }
    }

    async fn shared_with(
        &self,
        delegate: &str,
        status: Option<ResearchStatus>,
        after: Option<&SharedListCursor>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<SharedTasksPage, StoreError> {
        let rows = sqlx::query(SHARED_WITH)
            .bind(delegate)
            .bind(ms(now))
            .bind(status.map(ResearchStatus::as_str))
            .bind(i64::from(limit) + 1)
            .bind(after.map(|a| ms(a.created_at)))
            .bind(after.map(|a| a.id.as_bytes().to_vec()))
            .fetch_all(&self.read)
            .await
            .map_err(db_err("list shared tasks"))?;
        let shared = rows
            .iter()
            .map(|row| {
                Ok(SharedTask {
                    grant: grant_from_row(row)?,
                    task: task_from_row_at(row, GRANT_COLUMNS)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SharedTasksPage::from_overfetch(shared, limit))
    }

    async fn sweep_grants(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(SWEEP)
            .bind(ms(now))
            .bind(i64::from(batch))
            .execute(&self.write)
            .await
            .map_err(db_err("sweep grants"))?;
        Ok(done.rows_affected())
    }
}
