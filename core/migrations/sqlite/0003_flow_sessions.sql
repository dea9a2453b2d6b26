-- A browser or script part-way through a flow: the plan and its context, keyed by the
-- hash of the random key in the `gatehouse_flow` cookie, so a restart mid-flow loses
-- nothing. Keep in step with ../postgres/.
CREATE TABLE flow_sessions (
    id         TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    flow_id    TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    state      TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX flow_sessions_expires ON flow_sessions (expires_at);
