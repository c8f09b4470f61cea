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
    macro_rules! get {
        ($i:expr) => {
            row.try_get(at + $i).map_err(get_err)?
        };
    }
    TaskColumns {
        id: get!(0),
        owner: get!(1),
        topic: get!(2),
        depth: get!(3),
        status: get!(4),
        findings_count: get!(5),
        times: [get!(6), get!(7), get!(8), get!(9)],
    }
    .into_task()
}

/// A task's [`task_columns!`] as stored, before they are checked.
pub(crate) struct TaskColumns {
    id: Vec<u8>,
    owner: String,
    topic: String,
    depth: i64,
    status: String,
    findings_count: i64,
    /// created, updated, expires and hard expires, in milliseconds.
    times: [i64; 4],
}

impl TaskColumns {
    /// The columns of a read lane's row (see `lanes`); the values are checked by
    /// [`TaskColumns::into_task`].
    pub(crate) fn from_lane_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TaskColumns> {
        Ok(TaskColumns {
            id: row.get(0)?,
            owner: row.get(1)?,
            topic: row.get(2)?,
            depth: row.get(3)?,
            status: row.get(4)?,
            findings_count: row.get(5)?,
            times: [row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?],
        })
    }

    /// The task, or an internal error naming the column that makes no sense.
    pub(crate) fn into_task(self) -> Result<ResearchTask, StoreError> {
        let [created_at, updated_at, expires_at, hard_expires_at] = self.times;
        Ok(ResearchTask {
            id: ResearchTaskId::from_slice(&self.id).ok_or_else(|| corrupt("id"))?,
            owner: self.owner,
            topic: self.topic,
            depth: u8::try_from(self.depth).map_err(|_| corrupt("depth"))?,
            status: ResearchStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            findings_count: u32::try_from(self.findings_count)
                .map_err(|_| corrupt("findings_count"))?,
            created_at: from_ms(created_at)?,
            updated_at: from_ms(updated_at)?,
            expires_at: from_ms(expires_at)?,
            hard_expires_at: from_ms(hard_expires_at)?,
        })
    }
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
