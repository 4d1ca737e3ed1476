-- Concurrent-call limits (issue 15 item 6): a queue's own cap on its live calls (0: none),
-- and the limit that refused a call, on its CDR and, for a queue call, on its interaction.
ALTER TABLE queues ADD COLUMN max_calls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cdrs ADD COLUMN refused_by TEXT;
ALTER TABLE interactions ADD COLUMN refused_by TEXT;
-- What an extension may dial outside (internal, national, international; NULL: the
-- profile's dialing.default_class), a toll-fraud control (issue 15 item 2).
ALTER TABLE extensions ADD COLUMN calling_class TEXT;
