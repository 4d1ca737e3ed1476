-- SIP extensions (users) beyond those in the profile. Credentials are either a lab
-- plaintext password or precomputed digest HA1 values (RFC 7616 §3.4.2).
CREATE TABLE extensions (
    "user"       TEXT   NOT NULL PRIMARY KEY,
    password     TEXT,
    ha1_md5      TEXT,
    ha1_sha256   TEXT,
    display_name TEXT,
    enabled      BIGINT NOT NULL DEFAULT 1
);
