-- Changes made to a live interaction's media processing (noise suppression turned off for
-- one call, and who did it), as a JSON list like participants.
ALTER TABLE interactions ADD COLUMN media_changes TEXT NOT NULL DEFAULT '[]';
