-- Per-queue overrides of the org's recording and noise-suppression settings (NULL: follow
-- the org).
ALTER TABLE queues ADD COLUMN recording BIGINT;
ALTER TABLE queues ADD COLUMN noise_suppression BIGINT;
