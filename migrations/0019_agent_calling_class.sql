-- What an agent may dial from the desktop (click-to-dial, callbacks, consults and transfers
-- to numbers), whichever phone it works from: NULL leaves the extension's class alone, a
-- class caps it (issue 15 item 2).
ALTER TABLE agents ADD COLUMN calling_class TEXT;
