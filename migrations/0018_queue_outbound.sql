-- What a queue's calls out present (click-to-dial, callbacks), and its courtesy callback
-- offer: after how long an estimated wait, with which prompt (issue 15 items 3 and 5).
ALTER TABLE queues ADD COLUMN outdial_caller_id TEXT;
ALTER TABLE queues ADD COLUMN courtesy_callback_secs BIGINT;
ALTER TABLE queues ADD COLUMN courtesy_prompt TEXT;
