-- API keys (baton token create/list/revoke): only a hash of each key's secret is kept.

CREATE TABLE api_keys (
    id         text        PRIMARY KEY,
    principal  text        NOT NULL,
    scopes     text        NOT NULL,
    hash       bytea       NOT NULL CHECK (octet_length(hash) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz
);
