-- Call detail records: one row per call (A leg plus every B leg in `legs`).
-- Portable between SQLite and PostgreSQL: BIGINT integers, TEXT strings,
-- times as BIGINT milliseconds since the Unix epoch.
CREATE TABLE cdrs (
    id           TEXT   NOT NULL PRIMARY KEY,
    call_id      TEXT   NOT NULL,
    caller       TEXT   NOT NULL,
    callee       TEXT   NOT NULL,
    start_ms     BIGINT NOT NULL,
    answer_ms    BIGINT,
    end_ms       BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    hangup_cause TEXT   NOT NULL,
    hangup_side  TEXT   NOT NULL,
    sip_code     BIGINT NOT NULL,
    legs         TEXT   NOT NULL DEFAULT '[]',
    created_ms   BIGINT NOT NULL
);

CREATE INDEX cdrs_start_ms ON cdrs (start_ms);
-- Number searches match caller OR callee and are ordered by start time.
CREATE INDEX cdrs_caller_start_ms ON cdrs (caller, start_ms);
CREATE INDEX cdrs_callee_start_ms ON cdrs (callee, start_ms);
