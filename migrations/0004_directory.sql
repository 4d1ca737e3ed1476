-- The contact-center directory: teams, skills, agents and queues.
-- Portable between SQLite and PostgreSQL: BIGINT integers and 0/1 booleans, TEXT strings and
-- JSON, times as BIGINT milliseconds since the Unix epoch. References are checked by the API,
-- not by foreign keys, so an admin can delete and re-create rows in any order.
CREATE TABLE teams (
    id   TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL
);

-- Which agents supervise which teams (a supervisor may oversee several).
CREATE TABLE team_supervisors (
    team_id  TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_supervisors_agent_id ON team_supervisors (agent_id);

-- The skills catalogue agents and queues pick from.
CREATE TABLE skills (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL DEFAULT ''
);

-- Agents. password_hash is an argon2 PHC string; plaintext never reaches the database.
CREATE TABLE agents (
    id            TEXT   NOT NULL PRIMARY KEY,
    name          TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    extension     TEXT,
    team_id       TEXT,
    skills        TEXT   NOT NULL DEFAULT '[]',
    role          TEXT   NOT NULL,
    enabled       BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX agents_team_id ON agents (team_id);
CREATE INDEX agents_role ON agents (role);

-- Queues: the columns of routing::model::QueueConfig, durations in whole seconds.
CREATE TABLE queues (
    id                   TEXT   NOT NULL PRIMARY KEY,
    name                 TEXT   NOT NULL,
    number               TEXT   NOT NULL,
    strategy             TEXT   NOT NULL,
    required_skills      TEXT   NOT NULL DEFAULT '[]',
    teams                TEXT   NOT NULL DEFAULT '[]',
    ring_timeout_secs    BIGINT NOT NULL,
    max_wait_secs        BIGINT,
    overflow             TEXT,
    wrap_up_max_secs     BIGINT,
    last_agent_routing   BIGINT NOT NULL DEFAULT 0,
    disposition_required BIGINT NOT NULL DEFAULT 0,
    music                TEXT
);
CREATE UNIQUE INDEX queues_number ON queues (number);
