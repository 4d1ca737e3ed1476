-- Disposition codes (a tree: folders group codes and cannot be chosen themselves), idle reason
-- codes, and the organisation's settings as key -> JSON value rows.
CREATE TABLE disposition_codes (
    id        TEXT   NOT NULL PRIMARY KEY,
    name      TEXT   NOT NULL,
    parent_id TEXT,
    is_folder BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX disposition_codes_parent_id ON disposition_codes (parent_id);

CREATE TABLE idle_reasons (
    id   TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE org_settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
