//! Rows and times: how a research task is read from a row, and times as INTEGER
//! milliseconds since the Unix epoch.

use baton_store::{
    ResearchStatus, ResearchTask, ResearchTaskId, StoreError, StoreErrorKind, StoredApiKey,
};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::error::corrupt;

/// The columns of `research_tasks`, in the order [`task_from_row`] reads them.
macro_rules! task_columns {
    () => {
        "id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at"
    };
}

/// The same columns qualified with the alias `t`.
macro_rules! t_task_columns {
    () => {
        "t.id, t.owner, t.topic, t.depth, t.status, t.findings_count, t.created_at, t.updated_at, t.expires_at, t.hard_expires_at"
    };
}

/// The columns of `api_keys`, in the order [`api_key_from_row`] reads them.
macro_rules! api_key_columns {
    () => {
        "id, principal, scopes, hash, created_at, expires_at, revoked_at"
    };
}

pub(crate) use {api_key_columns, t_task_columns, task_columns};

/// Reads an API key from a row of [`api_key_columns!`].
pub(crate) fn api_key_from_row(row: &SqliteRow) -> Result<StoredApiKey, StoreError> {
    let get_err = |e: sqlx::Error| {
        StoreError::new(StoreErrorKind::Internal, "sqlite: corrupt api key row").with_source(e)
    };
    let time = |ms: Option<i64>| ms.map(from_ms).transpose();
    Ok(StoredApiKey {
        id: row.try_get(0).map_err(get_err)?,
        principal: row.try_get(1).map_err(get_err)?,
        scopes: row.try_get(2).map_err(get_err)?,
        hash: row.try_get(3).map_err(get_err)?,
        created_at: from_ms(row.try_get(4).map_err(get_err)?)?,
        expires_at: time(row.try_get(5).map_err(get_err)?)?,
        revoked_at: time(row.try_get(6).map_err(get_err)?)?,
    })
}

/// Reads a task from the first ten columns of `row` ([`task_columns!`]).
pub(crate) fn task_from_row(row: &SqliteRow) -> Result<ResearchTask, StoreError> {
    task_from_row_at(row, 0)
}

/// Reads a task from ten columns of `row` ([`task_columns!`]) starting at column `at`.
pub(crate) fn task_from_row_at(row: &SqliteRow, at: usize) -> Result<ResearchTask, StoreError> {
    let get_err = |e: sqlx::Error| {
        StoreError::new(StoreErrorKind::Internal, "sqlite: corrupt task row").with_source(e)
    };
    let id: Vec<u8> = row.try_get(at).map_err(get_err)?;
    let id = ResearchTaskId::from_slice(&id).ok_or_else(|| corrupt("id"))?;
    let depth: i64 = row.try_get(at + 3).map_err(get_err)?;
    let status: String = row.try_get(at + 4).map_err(get_err)?;
    let count: i64 = row.try_get(at + 5).map_err(get_err)?;
    Ok(ResearchTask {
        id,
        owner: row.try_get(at + 1).map_err(get_err)?,
        topic: row.try_get(at + 2).map_err(get_err)?,
        depth: u8::try_from(depth).map_err(|_| corrupt("depth"))?,
        status: ResearchStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        findings_count: u32::try_from(count).map_err(|_| corrupt("findings_count"))?,
        created_at: from_ms(row.try_get(at + 6).map_err(get_err)?)?,
        updated_at: from_ms(row.try_get(at + 7).map_err(get_err)?)?,
        expires_at: from_ms(row.try_get(at + 8).map_err(get_err)?)?,
        hard_expires_at: from_ms(row.try_get(at + 9).map_err(get_err)?)?,
    })
}

/// Milliseconds since the epoch (sub-millisecond parts are dropped).
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A time from milliseconds since the epoch.
pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt("time"))
}
