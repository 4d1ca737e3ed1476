-- Trunks, DIDs and outbound routes kept in the database (issue 15 item 1), next to the
-- profile's [[trunks]] and [dialing] tables and applied to the running switch by the admin
-- API. Trunks have the fields of config::TrunkSettings, lists as JSON text. The carrier's
-- password is kept as given, unlike an extension's: the switch must compute digest answers
-- to the carrier's challenges with it. The API never returns it.
CREATE TABLE trunks (
    name                  TEXT   NOT NULL PRIMARY KEY,
    inbound_sources       TEXT   NOT NULL DEFAULT '[]',
    trusted               BIGINT NOT NULL DEFAULT 0,
    gateways              TEXT   NOT NULL DEFAULT '[]',
    transport             TEXT   NOT NULL DEFAULT 'udp',
    max_channels          BIGINT NOT NULL DEFAULT 0,
    caller_id             TEXT,
    username              TEXT,
    password              TEXT,
    registers             BIGINT NOT NULL DEFAULT 0,
    register_expires_secs BIGINT NOT NULL DEFAULT 600
);

-- Numbers trunks deliver calls to, as the carrier sends them, and the internal number each
-- reaches (a queue number or an extension).
CREATE TABLE dids (
    number TEXT NOT NULL PRIMARY KEY,
    target TEXT NOT NULL
);

-- Outbound routes: an E.164 prefix ('+' alone matches every number) and the trunk names to
-- try, in order, as a JSON list.
CREATE TABLE outbound_routes (
    prefix TEXT NOT NULL PRIMARY KEY,
    trunks TEXT NOT NULL
);
