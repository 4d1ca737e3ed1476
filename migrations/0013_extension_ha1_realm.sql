-- Extensions keep digest HA1 hashes, not passwords (plaintext rows are hashed at start-up,
-- see Store::hash_plaintext_extensions). An HA1 is only valid for the realm it was computed
-- with, so the realm is kept beside it: a switch whose domain changed says which extensions
-- can no longer authenticate instead of refusing them silently.
ALTER TABLE extensions ADD COLUMN ha1_realm TEXT;
