-- Outbound interactions (issue 15 items 3 and 4): why a call out never connected
-- (`customer_486`, `customer_no_answer`, `agent_no_answer`, `cancelled`, ...).
ALTER TABLE interactions ADD COLUMN failure TEXT;
