//! [`ShareStore`] on Postgres: one statement per change.

use async_trait::async_trait;
use baton_store::{
    Access, Grant, GrantId, NewGrant, ResearchStatus, ResearchTaskId, ShareRight, ShareStore,
    SharedListCursor, SharedTask, SharedTasksPage, StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::{corrupt, from_sqlx};
use crate::statements::*;
use crate::store::{ms, task_from_row};

fn grant_from_row(row: &PgRow) -> Result<Grant, StoreError> {
    let get = |e: sqlx::Error| from_sqlx("grant row decoding", e);
    let id: Vec<u8> = row.try_get("g_id").map_err(get)?;
    let task: Vec<u8> = row.try_get("g_task_id").map_err(get)?;
    let access: String = row.try_get("g_access").map_err(get)?;
    let parent: Option<Vec<u8>> = row.try_get("g_parent_id").map_err(get)?;
    let depth: i16 = row.try_get("g_depth").map_err(get)?;
    Ok(Grant {
        id: GrantId::from_slice(&id).ok_or_else(|| corrupt("grant id is not 16 bytes"))?,
        task: ResearchTaskId::from_slice(&task)
            .ok_or_else(|| corrupt("grant task id is not 16 bytes"))?,
        owner: row.try_get("g_owner").map_err(get)?,
        grantor: row.try_get("g_grantor").map_err(get)?,
        delegate: row.try_get("g_delegate").map_err(get)?,
        access: Access {
            right: ShareRight::parse(&access)
                .ok_or_else(|| corrupt(format!("grant access {access:?}")))?,
            reshare: row.try_get("g_reshare").map_err(get)?,
        },
        parent: parent
            .map(|p| GrantId::from_slice(&p).ok_or_else(|| corrupt("grant parent is not 16 bytes")))
            .transpose()?,
        depth: u8::try_from(depth).map_err(|_| corrupt(format!("grant depth {depth}")))?,
        created_at: row.try_get("g_created_at").map_err(get)?,
        expires_at: row.try_get("g_expires_at").map_err(get)?,
    })
}

impl PostgresStore {
    /// Why a grant was not created: the task, then the parent, else the quota.
    async fn explain_refused_grant(
        &self,
        new: &NewGrant,
        now: DateTime<Utc>,
    ) -> Result<StoreError, StoreError> {
        let live: Option<i32> = sqlx::query_scalar(TASK_IS_LIVE)
            .bind(&new.task.as_bytes()[..])
            .bind(&new.owner)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("create_grant", e))?;
        let parent = match &new.parent {
            Some(parent) => Some(self.resolve_grant(parent, &new.grantor, now).await),
            None => None,
        };
        Ok(new.refusal(live.is_some(), parent))
    }
}

#[async_trait]
impl ShareStore for PostgresStore {
    async fn create_grant(&self, new: NewGrant, now: DateTime<Utc>) -> Result<Grant, StoreError> {
        let now = ms(now);
        let expires_at = ms(new.expires_at);
        let limit = i64::try_from(new.max_grants_per_task).unwrap_or(i64::MAX);
        let done = sqlx::query(CREATE_GRANT)
            .bind(new.parent.as_ref().map(|p| p.as_bytes().to_vec()))
            .bind(&new.id.as_bytes()[..])
            .bind(now)
            .bind(&new.task.as_bytes()[..])
            .bind(&new.grantor)
            .bind(&new.delegate)
            .bind(new.access.right.as_str())
            .bind(new.access.reshare)
            .bind(i16::from(new.depth))
            .bind(expires_at)
            .bind(&new.owner)
            .bind(limit)
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("create_grant", e))?;
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
        let row = sqlx::query(RESOLVE_GRANT)
            .bind(&id.as_bytes()[..])
            .bind(delegate)
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| from_sqlx("resolve_grant", e))?;
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
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx("grants_of", e))?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_grant(
        &self,
        by: &str,
        id: &GrantId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(REVOKE_GRANT)
            .bind(&id.as_bytes()[..])
            .bind(by)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("revoke_grant", e))?;
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
            .bind(after.map(|a| a.created_at))
            .bind(after.map(|a| a.id.as_bytes().to_vec()))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| from_sqlx("shared_with", e))?;
        let shared = rows
            .iter()
            .map(|row| {
                Ok(SharedTask {
                    grant: grant_from_row(row)?,
                    task: task_from_row(row)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SharedTasksPage::from_overfetch(shared, limit))
    }

    async fn sweep_grants(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(SWEEP_GRANTS)
            .bind(ms(now))
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await
            .map_err(|e| from_sqlx("sweep_grants", e))?;
        Ok(done.rows_affected())
    }
}
