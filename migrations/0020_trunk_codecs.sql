-- A trunk's codecs, in preference order, as a JSON list of names (issue 15 item 1): what
-- calls out through it are offered and calls in from it are answered with. Trunks stored
-- before carry what the switch offered every trunk until now.
ALTER TABLE trunks ADD COLUMN codecs TEXT NOT NULL DEFAULT '["PCMU","PCMA","telephone-event"]';
