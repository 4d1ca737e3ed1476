-- Call recordings: one row per recorded interaction, so recordings are listed and served
-- from the database and a restart can mark the ones a crash interrupted.
CREATE TABLE recordings (
    interaction_id TEXT   NOT NULL PRIMARY KEY,
    path           TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    error          TEXT,
    started_ms     BIGINT NOT NULL,
    ended_ms       BIGINT
);
CREATE INDEX recordings_started_ms ON recordings (started_ms);
