-- API keys (baton token create/list/revoke): only a hash of each key's secret is kept.
-- Times are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    principal  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) WITHOUT ROWID;
