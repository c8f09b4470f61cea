//! Every SQL statement the store runs, in one place: for review, and for the tests that
//! check their query plans against a real database.
//!
//! Parameters are positional (`$1`…); each statement's doc says what it binds where that is
//! not obvious from the store code that runs it.

/// The columns of `research_tasks`, in the order the store reads them.
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

/// Inserts a fresh running task, if the owner holds fewer than `$8` tasks, and counts it in
/// the owner's usage. The owner's usage row is locked first, so racing starts of one owner
/// are counted exactly (except two racing first-ever starts, when no row exists yet to lock).
pub const INSERT_TASK: &str = concat!(
    "WITH q AS (SELECT live_tasks FROM research_usage WHERE owner = $2 FOR UPDATE), \
     t AS ( \
        INSERT INTO research_tasks (id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at) \
        SELECT $1, $2, $3, $4, 'running', 0, $5, $5, $6, $7 \
        WHERE COALESCE((SELECT live_tasks FROM q), 0) < $8 RETURNING ",
    task_columns!(),
    " ), usage AS ( \
        INSERT INTO research_usage (owner, live_tasks, stored_bytes) SELECT $2, 1, 0 FROM t \
        ON CONFLICT (owner) DO UPDATE SET live_tasks = research_usage.live_tasks + 1 \
     ) SELECT ",
    task_columns!(),
    " FROM t"
);

/// Claims the idempotency key and, only when the claim succeeded (and the owner holds fewer
/// than `$9` tasks), inserts the task and counts it: one statement. `ON CONFLICT DO NOTHING`
/// waits for a concurrent claimer of the same key to commit or roll back, so racing starts
/// create exactly one task. (The key row's foreign key is checked at the end of the
/// statement, when the task row exists.)
pub const INSERT_TASK_WITH_KEY: &str = concat!(
    "WITH q AS (SELECT live_tasks FROM research_usage WHERE owner = $2 FOR UPDATE), \
     k AS ( \
        INSERT INTO research_idempotency_keys (owner, key, task_id, topic, depth) \
        SELECT $2, $8, $1, $3, $4 WHERE COALESCE((SELECT live_tasks FROM q), 0) < $9 \
        ON CONFLICT (owner, key) DO NOTHING RETURNING task_id \
     ), t AS ( \
        INSERT INTO research_tasks (id, owner, topic, depth, status, findings_count, created_at, updated_at, expires_at, hard_expires_at) \
        SELECT k.task_id, $2, $3, $4, 'running', 0, $5, $5, $6, $7 FROM k RETURNING ",
    task_columns!(),
    " ), usage AS ( \
        INSERT INTO research_usage (owner, live_tasks, stored_bytes) SELECT $2, 1, 0 FROM t \
        ON CONFLICT (owner) DO UPDATE SET live_tasks = research_usage.live_tasks + 1 \
     ) SELECT ",
    task_columns!(),
    " FROM t"
);

/// How many tasks the owner holds (not yet swept).
pub const SELECT_LIVE_TASKS: &str = "SELECT live_tasks FROM research_usage WHERE owner = $1";

/// The task an idempotency key points at, with what the key was first used for.
pub const SELECT_KEYED_TASK: &str = concat!(
    "SELECT k.topic AS key_topic, k.depth AS key_depth, ",
    t_task_columns!(),
    " FROM research_idempotency_keys k JOIN research_tasks t ON t.id = k.task_id WHERE k.owner = $1 AND k.key = $2"
);

/// Frees a key whose task has expired but has not been swept yet.
pub const RELEASE_STALE_KEY: &str = "DELETE FROM research_idempotency_keys k USING research_tasks t \
     WHERE k.owner = $1 AND k.key = $2 AND k.task_id = $3 AND t.id = k.task_id AND t.expires_at <= $4";

/// A live task of the caller's: `$1` id, `$2` owner, `$3` now.
pub const SELECT_TASK: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM research_tasks WHERE id = $1 AND owner = $2 AND expires_at > $3"
);

/// Pushes a live task's idle expiry forward (never backward).
pub const REFRESH_EXPIRY: &str = concat!(
    "UPDATE research_tasks SET expires_at = LEAST($3, hard_expires_at) \
     WHERE id = $1 AND owner = $2 AND expires_at > $4 AND expires_at < LEAST($3, hard_expires_at) \
     RETURNING ",
    task_columns!()
);

/// Appends findings and sets the status in one statement. The owner's usage row is locked
/// first (racing appends of one owner are counted exactly against the byte quota); the
/// `UPDATE` is conditional on the task being live, running and having room, and on the
/// owner's quota; its row lock serialises concurrent appenders, and the findings get the
/// indexes just below the count it returns. `$3` count to add, `$4` now, `$5` idle deadline,
/// `$6` per-task limit, `$7` new status, `$8` texts, `$9` their bytes, `$10` the owner's
/// byte quota.
pub const APPEND: &str = concat!(
    "WITH q AS (SELECT stored_bytes FROM research_usage WHERE owner = $2 FOR UPDATE), \
     t AS ( \
        UPDATE research_tasks SET findings_count = findings_count + $3, \
                         stored_bytes = stored_bytes + $9, status = $7, updated_at = $4, \
                         expires_at = LEAST($5, hard_expires_at) \
        WHERE id = $1 AND owner = $2 AND status = 'running' AND expires_at > $4 \
          AND findings_count::bigint + $3 <= $6 \
          AND COALESCE((SELECT stored_bytes FROM q), 0) + $9 <= $10 \
        RETURNING ",
    task_columns!(),
    " ), f AS ( \
        INSERT INTO research_findings (task_id, idx, text) \
        SELECT t.id, (t.findings_count - $3 + u.ord)::integer, u.text \
        FROM t, UNNEST($8::text[]) WITH ORDINALITY AS u(text, ord) \
     ), usage AS ( \
        UPDATE research_usage SET stored_bytes = stored_bytes + $9 \
        WHERE owner = $2 AND EXISTS (SELECT 1 FROM t) \
     ) SELECT ",
    task_columns!(),
    " FROM t"
);

/// Completes a live, running task of the caller's without adding findings (no quota to
/// check): `$1` id, `$2` owner, `$3` now, `$4` idle deadline.
pub const COMPLETE_EMPTY: &str = concat!(
    "UPDATE research_tasks SET status = 'complete', updated_at = $3, expires_at = LEAST($4, hard_expires_at) \
     WHERE id = $1 AND owner = $2 AND status = 'running' AND expires_at > $3 RETURNING ",
    task_columns!()
);

/// Claims an append idempotency key for a live task of the caller's, inside the append's
/// transaction: `$1` task, `$2` key, `$3` digest, `$4` owner, `$5` now. A concurrent claimer
/// of the same key waits here until the first commits (then finds the key) or rolls back.
pub const CLAIM_APPEND_KEY: &str = "INSERT INTO research_append_keys (task_id, key, digest, last_index) \
     SELECT $1, $2, $3, 0 WHERE EXISTS ( \
        SELECT 1 FROM research_tasks WHERE id = $1 AND owner = $4 AND expires_at > $5) \
     ON CONFLICT (task_id, key) DO NOTHING RETURNING last_index";

/// Records the index an append stored its batch up to.
pub const SET_APPEND_KEY_INDEX: &str =
    "UPDATE research_append_keys SET last_index = $3 WHERE task_id = $1 AND key = $2";

/// An earlier append with this key to a live task of the caller's: what a retry gets back.
pub const SELECT_APPEND_KEY: &str = concat!(
    "SELECT k.digest, k.last_index, ",
    t_task_columns!(),
    " FROM research_append_keys k JOIN research_tasks t ON t.id = k.task_id \
     WHERE k.task_id = $1 AND k.key = $2 AND t.owner = $3 AND t.expires_at > $4"
);

/// What a change that matched no row reads to explain itself.
pub const SELECT_STATE: &str = "SELECT t.status, t.findings_count, \
     COALESCE((SELECT u.stored_bytes FROM research_usage u WHERE u.owner = $2), 0) AS owner_bytes \
     FROM research_tasks t WHERE t.id = $1 AND t.owner = $2 AND t.expires_at > $3";

/// Cancels a live, running task of the caller's: `$1` id, `$2` owner, `$3` now, `$4` idle
/// deadline.
pub const CANCEL: &str = concat!(
    "UPDATE research_tasks SET status = 'cancelled', updated_at = $3, expires_at = LEAST($4, hard_expires_at) \
     WHERE id = $1 AND owner = $2 AND status = 'running' AND expires_at > $3 RETURNING ",
    task_columns!()
);

/// The task and one page of its findings, read in one statement (one snapshot).
pub const LIST_FINDINGS: &str = concat!(
    "SELECT ",
    t_task_columns!(),
    ", f.idxs, f.texts FROM research_tasks t CROSS JOIN LATERAL ( \
        SELECT COALESCE(array_agg(s.idx ORDER BY s.idx), '{}') AS idxs, \
               COALESCE(array_agg(s.text ORDER BY s.idx), '{}') AS texts \
        FROM (SELECT idx, text FROM research_findings WHERE task_id = t.id AND idx > $4 ORDER BY idx LIMIT $5) s \
     ) f WHERE t.id = $1 AND t.owner = $2 AND t.expires_at > $3"
);

/// The first page of an owner's live tasks, newest first: `$1` owner, `$2` now, `$3` status
/// or NULL, `$4` limit (one more than the page, to learn whether another follows).
pub const LIST_TASKS_FIRST: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM research_tasks WHERE owner = $1 AND expires_at > $2 AND ($3::text IS NULL OR status = $3) \
     ORDER BY created_at DESC, id DESC LIMIT $4"
);

/// The next page, after the cursor `($5 created_at, $6 id)`; otherwise as
/// [`LIST_TASKS_FIRST`].
pub const LIST_TASKS_AFTER: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM research_tasks WHERE owner = $1 AND expires_at > $2 AND ($3::text IS NULL OR status = $3) \
       AND (created_at, id) < ($5, $6) \
     ORDER BY created_at DESC, id DESC LIMIT $4"
);

/// Every instance may sweep at once: `SKIP LOCKED` hands each sweeper different rows and
/// never waits on rows another transaction holds. Findings and idempotency keys cascade; what
/// the deleted tasks counted against their owners' quotas is freed in the same statement.
/// Returns the number of tasks deleted.
pub const SWEEP: &str = "WITH d AS ( \
        DELETE FROM research_tasks WHERE id IN ( \
            SELECT id FROM research_tasks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 \
            FOR UPDATE SKIP LOCKED) \
        RETURNING owner, stored_bytes \
     ), g AS (SELECT owner, count(*) AS n, sum(stored_bytes) AS b FROM d GROUP BY owner), \
     usage AS ( \
        UPDATE research_usage r SET live_tasks = GREATEST(r.live_tasks - g.n, 0), \
            stored_bytes = GREATEST(r.stored_bytes - g.b, 0) \
        FROM g WHERE r.owner = g.owner \
     ) SELECT count(*) FROM d";

/// Every handle-signing key, oldest first.
pub const SELECT_SIGNING_KEYS: &str = "SELECT key_id, secret, created_at, promoted_at, retired_at \
     FROM signing_keys ORDER BY created_at, key_id";

/// Stores a handle-signing key unless its id exists already.
pub const INSERT_SIGNING_KEY: &str = "INSERT INTO signing_keys (key_id, secret, created_at, promoted_at, retired_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING";

/// Replaces a handle-signing key's secret and lifecycle times.
pub const UPDATE_SIGNING_KEY: &str =
    "UPDATE signing_keys SET secret = $2, promoted_at = $3, retired_at = $4 WHERE key_id = $1";

/// Writes tasks verbatim in bulk, as arrays (one statement per chunk, no parameter-count
/// limit), skipping ids that exist. [`RECOUNT_USAGE`] follows in the same transaction.
pub const IMPORT_TASKS: &str = concat!(
    "INSERT INTO research_tasks (",
    task_columns!(),
    ") SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::smallint[], \
     $5::text[], $6::integer[], $7::timestamptz[], $8::timestamptz[], \
     $9::timestamptz[], $10::timestamptz[]) ON CONFLICT (id) DO NOTHING"
);

/// Checks that the database answers.
pub const PING: &str = "SELECT 1";

/// Stores a new API key; an existing id inserts nothing.
pub const INSERT_API_KEY: &str = "INSERT INTO api_keys (id, principal, scopes, hash, created_at, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";

/// One API key by id.
pub const SELECT_API_KEY: &str = "SELECT id, principal, scopes, hash, created_at, expires_at, revoked_at FROM api_keys WHERE id = $1";

/// Every API key, oldest first.
pub const SELECT_API_KEYS: &str = "SELECT id, principal, scopes, hash, created_at, expires_at, revoked_at \
     FROM api_keys ORDER BY created_at, id";

/// Revokes an API key at `$2`, keeping an earlier revocation time.
pub const REVOKE_API_KEY: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
     RETURNING id, principal, scopes, hash, created_at, expires_at, revoked_at";

/// Counts the usage of the owners in `$1` afresh (after a bulk import).
pub const RECOUNT_USAGE: &str = "INSERT INTO research_usage (owner, live_tasks, stored_bytes) \
     SELECT owner, count(*), sum(stored_bytes) FROM research_tasks WHERE owner = ANY($1) GROUP BY owner \
     ON CONFLICT (owner) DO UPDATE SET live_tasks = EXCLUDED.live_tasks, stored_bytes = EXCLUDED.stored_bytes";

// Delegation grants (ShareStore).

/// The columns of `research_grants` (alias `g`), each named `g_…`, so that they can sit
/// beside a task's columns in one row.
macro_rules! g_grant_columns {
    () => {
        "g.id AS g_id, g.task_id AS g_task_id, g.owner AS g_owner, g.grantor AS g_grantor, \
         g.delegate AS g_delegate, g.access AS g_access, g.reshare AS g_reshare, \
         g.parent_id AS g_parent_id, g.depth AS g_depth, g.created_at AS g_created_at, \
         g.expires_at AS g_expires_at"
    };
}

/// The chain of grant `$1` up to the owner's grant, as `chain(revoked_at, expires_at)`.
macro_rules! chain_of_first_param {
    () => {
        "WITH RECURSIVE chain(id, parent_id, revoked_at, expires_at, n) AS ( \
           SELECT id, parent_id, revoked_at, expires_at, 1 FROM research_grants WHERE id = $1::bytea \
           UNION ALL \
           SELECT g.id, g.parent_id, g.revoked_at, g.expires_at, c.n + 1 \
           FROM research_grants AS g JOIN chain AS c ON g.id = c.parent_id WHERE c.n < 255 ) "
    };
}

/// The live grant `$1` held by `$2` at `$3`: the grant, every grant up its chain and its
/// task checked in one statement (one snapshot).
pub const RESOLVE_GRANT: &str = concat!(
    chain_of_first_param!(),
    "SELECT ",
    g_grant_columns!(),
    " FROM research_grants AS g \
     JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner AND t.expires_at > $3 \
     WHERE g.id = $1 AND g.delegate = $2 \
     AND NOT EXISTS (SELECT 1 FROM chain WHERE revoked_at IS NOT NULL OR expires_at <= $3)"
);

/// Inserts grant `$2` on task `$4` of owner `$11` when the task is live at `$3`, the parent
/// `$1` (if any) is live, on the same task and held by the grantor `$5`, and the task has
/// fewer than `$12` live grants. Binds: `$6` delegate, `$7` access, `$8` reshare, `$9`
/// depth, `$10` expires_at.
pub const CREATE_GRANT: &str = concat!(
    chain_of_first_param!(),
    "INSERT INTO research_grants \
       (id, task_id, owner, grantor, delegate, access, reshare, parent_id, depth, created_at, expires_at) \
     SELECT $2, t.id, t.owner, $5, $6, $7, $8, $1::bytea, $9, $3, $10 \
     FROM research_tasks AS t \
     WHERE t.id = $4 AND t.owner = $11 AND t.expires_at > $3 \
     AND ($1::bytea IS NULL OR ( \
          EXISTS (SELECT 1 FROM research_grants AS p \
                  WHERE p.id = $1::bytea AND p.task_id = $4 AND p.delegate = $5) \
          AND NOT EXISTS (SELECT 1 FROM chain WHERE revoked_at IS NOT NULL OR expires_at <= $3))) \
     AND (SELECT count(*) FROM research_grants AS l \
          WHERE l.task_id = $4 AND l.revoked_at IS NULL AND l.expires_at > $3) < $12"
);

/// Whether owner `$2`'s task `$1` is live at `$3` (explaining a refused grant).
pub const TASK_IS_LIVE: &str =
    "SELECT 1 FROM research_tasks WHERE id = $1 AND owner = $2 AND expires_at > $3";

/// The live grants on owner `$2`'s live task `$1` at `$3`, oldest first.
pub const GRANTS_OF: &str = concat!(
    "SELECT ",
    g_grant_columns!(),
    " FROM research_grants AS g \
     JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner AND t.expires_at > $3 \
     WHERE g.task_id = $1 AND g.owner = $2 AND g.revoked_at IS NULL AND g.expires_at > $3 \
     ORDER BY g.created_at, g.id"
);

/// Revokes grant `$1` (if `$2` owns its task or made it, and it is live at `$3`) and every
/// live grant below it.
pub const REVOKE_GRANT: &str = "WITH RECURSIVE sub(id) AS ( \
       SELECT g.id FROM research_grants AS g \
       JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner AND t.expires_at > $3 \
       WHERE g.id = $1 AND (g.owner = $2 OR g.grantor = $2) \
       AND g.revoked_at IS NULL AND g.expires_at > $3 \
       UNION \
       SELECT g.id FROM research_grants AS g JOIN sub ON g.parent_id = sub.id ) \
     UPDATE research_grants SET revoked_at = $3 \
     WHERE id IN (SELECT id FROM sub) AND revoked_at IS NULL AND expires_at > $3";

/// The live tasks shared with `$1` through live grants at `$2`, optionally only in status
/// `$3`, after grant (`$5`, `$6`), newest grant first, at most `$4` rows.
pub const SHARED_WITH: &str = concat!(
    "SELECT ",
    g_grant_columns!(),
    ", ",
    t_task_columns!(),
    " FROM research_grants AS g \
     JOIN research_tasks AS t ON t.id = g.task_id AND t.owner = g.owner \
     WHERE g.delegate = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 AND t.expires_at > $2 \
     AND ($3::text IS NULL OR t.status = $3::text) \
     AND ($5::timestamptz IS NULL OR (g.created_at, g.id) < ($5::timestamptz, $6::bytea)) \
     ORDER BY g.created_at DESC, g.id DESC LIMIT $4"
);

/// Deletes up to `$2` grants expired at `$1` or revoked.
pub const SWEEP_GRANTS: &str = "DELETE FROM research_grants WHERE id IN \
     (SELECT id FROM research_grants WHERE expires_at <= $1 OR revoked_at IS NOT NULL \
      ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)";
