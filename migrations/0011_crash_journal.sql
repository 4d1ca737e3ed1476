-- What a crash leaves behind. A call's CDR row is written when it starts and when it is
-- answered, marked in_progress and reading as if the switch had died at that moment
-- (hangup_cause 'interrupted'); its end replaces the row and clears the mark. A row still
-- in progress at start-up belongs to a switch that died: it is closed there.
ALTER TABLE cdrs ADD COLUMN in_progress BIGINT NOT NULL DEFAULT 0;
CREATE INDEX cdrs_in_progress ON cdrs (in_progress) WHERE in_progress = 1;

-- The last moment the switch was known alive, written every few seconds: the end time of
-- what a crash interrupted. One row (id 1).
CREATE TABLE switch_heartbeat (
    id    BIGINT NOT NULL PRIMARY KEY,
    at_ms BIGINT NOT NULL
);
