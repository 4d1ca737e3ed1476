-- Bearer tokens: agent sessions and admin-minted API tokens. Only the SHA-256 of a token is
-- stored, so a leaked database does not leak usable tokens.
CREATE TABLE api_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    token_hash TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL DEFAULT '',
    role       TEXT   NOT NULL,
    agent_id   TEXT,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked    BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX api_tokens_token_hash ON api_tokens (token_hash);
-- Expired tokens are purged in bulk.
CREATE INDEX api_tokens_expires_ms ON api_tokens (expires_ms);
