-- Location service (RFC 3261 §10) bindings, persisted so a restart keeps phones reachable.
CREATE TABLE registrations (
    aor           TEXT   NOT NULL,
    contact_uri   TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    call_id       TEXT   NOT NULL,
    cseq          BIGINT NOT NULL,
    q             TEXT,
    received      TEXT   NOT NULL,
    transport     TEXT   NOT NULL,
    PRIMARY KEY (aor, contact_uri)
);

CREATE INDEX registrations_expires_at_ms ON registrations (expires_at_ms);
