-- Interactions (one customer contact), their CAD (call-associated data) variables, and the
-- log of agent state transitions.
CREATE TABLE interactions (
    id               TEXT   NOT NULL PRIMARY KEY,
    media            TEXT   NOT NULL,
    direction        TEXT   NOT NULL,
    ani              TEXT   NOT NULL,
    dnis             TEXT   NOT NULL,
    queue_id         TEXT,
    state            TEXT   NOT NULL,
    agent_id         TEXT,
    participants     TEXT   NOT NULL DEFAULT '[]',
    notes            TEXT   NOT NULL DEFAULT '',
    disposition_code TEXT,
    created_ms       BIGINT NOT NULL,
    offered_ms       BIGINT,
    connected_ms     BIGINT,
    ended_ms         BIGINT,
    wrapped_up_ms    BIGINT,
    abandoned        BIGINT NOT NULL DEFAULT 0
);
-- History search filters on one of these and orders by creation time.
CREATE INDEX interactions_created_ms ON interactions (created_ms);
CREATE INDEX interactions_ani_created_ms ON interactions (ani, created_ms);
CREATE INDEX interactions_dnis_created_ms ON interactions (dnis, created_ms);
CREATE INDEX interactions_agent_id_created_ms ON interactions (agent_id, created_ms);
CREATE INDEX interactions_queue_id_created_ms ON interactions (queue_id, created_ms);

CREATE TABLE cad_variables (
    interaction_id TEXT   NOT NULL,
    key            TEXT   NOT NULL,
    value          TEXT   NOT NULL,
    editable       BIGINT NOT NULL DEFAULT 0,
    secure         BIGINT NOT NULL DEFAULT 0,
    display_order  BIGINT NOT NULL DEFAULT 0,
    version        BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (interaction_id, key)
);

CREATE TABLE agent_state_log (
    agent_id   TEXT   NOT NULL,
    from_state TEXT   NOT NULL,
    to_state   TEXT   NOT NULL,
    reason     TEXT,
    actor      TEXT   NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX agent_state_log_agent_id_at_ms ON agent_state_log (agent_id, at_ms);
