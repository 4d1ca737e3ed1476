-- Facts about this database's history the switch must not forget, one row per key. The
-- first admin is created once per database (key 'first_admin'): deleting every admin later
-- must not bring a seeded password back at the next start.
CREATE TABLE switch_facts (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- Revoking an agent's tokens (password change, demotion, deletion) goes by agent.
CREATE INDEX api_tokens_agent_id ON api_tokens (agent_id);

-- A queue call's CDR names its interaction, so CDRs are scoped like interactions.
ALTER TABLE cdrs ADD COLUMN interaction_id TEXT;
CREATE INDEX cdrs_interaction_id ON cdrs (interaction_id);
