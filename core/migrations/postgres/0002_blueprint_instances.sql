-- One row per blueprint file Gatehouse has applied (or tried to): what it was, when,
-- and how it went. Keep in step with ../sqlite/.
CREATE TABLE blueprint_instances (
    path            TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    content_hash    TEXT NOT NULL,
    status          TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    last_applied_at TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
