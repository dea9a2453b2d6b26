-- Gatehouse data model, PostgreSQL dialect. Keep in step with ../sqlite/.
-- Ids are UUIDs as text; times are TIMESTAMPTZ in UTC; kind-specific settings are JSONB.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL DEFAULT '',
    email               TEXT NOT NULL DEFAULT '',
    path                TEXT NOT NULL DEFAULT 'users',
    is_active           BOOLEAN NOT NULL DEFAULT TRUE,
    type                TEXT NOT NULL DEFAULT 'internal',
    attributes          JSONB NOT NULL DEFAULT '{}',
    password_hash       TEXT,
    password_changed_at TIMESTAMPTZ,
    last_login          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_username_lower ON users (lower(username));
CREATE INDEX users_email_lower ON users (lower(email));

CREATE TABLE groups (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    parent_id    TEXT REFERENCES groups (id) ON DELETE SET NULL,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    attributes   JSONB NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE group_memberships (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_memberships_user ON group_memberships (user_id);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    identifier  TEXT NOT NULL UNIQUE,
    intent      TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    key_hash    TEXT NOT NULL UNIQUE,
    expires_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE flows (
    id                 TEXT PRIMARY KEY,
    slug               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    title              TEXT NOT NULL DEFAULT '',
    designation        TEXT NOT NULL,
    authentication     TEXT NOT NULL DEFAULT 'none',
    denied_action      TEXT NOT NULL DEFAULT 'message_continue',
    policy_engine_mode TEXT NOT NULL DEFAULT 'any',
    layout             TEXT NOT NULL DEFAULT 'stacked',
    background         TEXT NOT NULL DEFAULT '',
    compatibility_mode BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE stages (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    settings   JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE stage_bindings (
    id                      TEXT PRIMARY KEY,
    flow_id                 TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    stage_id                TEXT NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    sort_order              INTEGER NOT NULL,
    evaluate_on_plan        BOOLEAN NOT NULL DEFAULT FALSE,
    re_evaluate_policies    BOOLEAN NOT NULL DEFAULT TRUE,
    invalid_response_action TEXT NOT NULL DEFAULT 'retry',
    policy_engine_mode      TEXT NOT NULL DEFAULT 'any',
    UNIQUE (flow_id, stage_id, sort_order)
);
CREATE INDEX stage_bindings_flow ON stage_bindings (flow_id, sort_order);

CREATE TABLE policies (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL,
    settings          JSONB NOT NULL DEFAULT '{}',
    execution_logging BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE certificate_key_pairs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    managed         TEXT UNIQUE,
    certificate_pem TEXT NOT NULL,
    key_pem         TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE providers (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    kind                  TEXT NOT NULL,
    authorization_flow_id TEXT REFERENCES flows (id) ON DELETE SET NULL,
    invalidation_flow_id  TEXT REFERENCES flows (id) ON DELETE SET NULL,
    settings              JSONB NOT NULL DEFAULT '{}',
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE property_mappings (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    managed    TEXT UNIQUE,
    kind       TEXT NOT NULL,
    expression TEXT NOT NULL,
    settings   JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE provider_property_mappings (
    provider_id         TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    property_mapping_id TEXT NOT NULL REFERENCES property_mappings (id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, property_mapping_id)
);

CREATE TABLE applications (
    id                 TEXT PRIMARY KEY,
    slug               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    provider_id        TEXT UNIQUE REFERENCES providers (id) ON DELETE SET NULL,
    group_name         TEXT NOT NULL DEFAULT '',
    launch_url         TEXT NOT NULL DEFAULT '',
    icon               TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    publisher          TEXT NOT NULL DEFAULT '',
    open_in_new_tab    BOOLEAN NOT NULL DEFAULT FALSE,
    policy_engine_mode TEXT NOT NULL DEFAULT 'any',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

-- A binding applies to exactly one target (flow, stage binding or application) and
-- checks exactly one subject (policy, group or user): one nullable foreign key per
-- kind, so deleting either end deletes the binding.
CREATE TABLE policy_bindings (
    id               TEXT PRIMARY KEY,
    flow_id          TEXT REFERENCES flows (id) ON DELETE CASCADE,
    stage_binding_id TEXT REFERENCES stage_bindings (id) ON DELETE CASCADE,
    application_id   TEXT REFERENCES applications (id) ON DELETE CASCADE,
    policy_id        TEXT REFERENCES policies (id) ON DELETE CASCADE,
    group_id         TEXT REFERENCES groups (id) ON DELETE CASCADE,
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    sort_order       INTEGER NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    negate           BOOLEAN NOT NULL DEFAULT FALSE,
    timeout_ms       INTEGER NOT NULL DEFAULT 30000,
    failure_result   BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK ((flow_id IS NOT NULL)::int + (stage_binding_id IS NOT NULL)::int + (application_id IS NOT NULL)::int = 1),
    CHECK ((policy_id IS NOT NULL)::int + (group_id IS NOT NULL)::int + (user_id IS NOT NULL)::int = 1)
);
CREATE INDEX policy_bindings_flow ON policy_bindings (flow_id, sort_order);
CREATE INDEX policy_bindings_stage_binding ON policy_bindings (stage_binding_id, sort_order);
CREATE INDEX policy_bindings_application ON policy_bindings (application_id, sort_order);
CREATE INDEX policy_bindings_group ON policy_bindings (group_id);
CREATE INDEX policy_bindings_user ON policy_bindings (user_id);
CREATE INDEX policy_bindings_policy ON policy_bindings (policy_id);

CREATE TABLE brands (
    id                    TEXT PRIMARY KEY,
    domain                TEXT NOT NULL UNIQUE,
    is_default            BOOLEAN NOT NULL DEFAULT FALSE,
    title                 TEXT NOT NULL DEFAULT 'Gatehouse',
    logo                  TEXT NOT NULL DEFAULT '',
    favicon               TEXT NOT NULL DEFAULT '',
    custom_css            TEXT NOT NULL DEFAULT '',
    flow_authentication   TEXT REFERENCES flows (id) ON DELETE SET NULL,
    flow_invalidation     TEXT REFERENCES flows (id) ON DELETE SET NULL,
    flow_recovery         TEXT REFERENCES flows (id) ON DELETE SET NULL,
    flow_user_settings    TEXT REFERENCES flows (id) ON DELETE SET NULL,
    attributes            JSONB NOT NULL DEFAULT '{}',
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
-- At most one default brand.
CREATE UNIQUE INDEX brands_one_default ON brands (is_default) WHERE is_default;

CREATE TABLE outposts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL DEFAULT 'proxy',
    token_hash TEXT NOT NULL UNIQUE,
    settings   JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE outpost_providers (
    outpost_id  TEXT NOT NULL REFERENCES outposts (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    PRIMARY KEY (outpost_id, provider_id)
);

-- The cookie carries a random key; only its hash is stored, so a copy of the
-- database does not hand out live sessions. Revoked rows stay until they expire so
-- an outpost that reconnects can be told what it missed.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    key_hash     TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_methods JSONB NOT NULL DEFAULT '[]',
    client_ip    TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Events outlive the users they mention: no foreign key, the username is copied.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    action     TEXT NOT NULL,
    user_id    TEXT,
    username   TEXT NOT NULL DEFAULT '',
    client_ip  TEXT NOT NULL DEFAULT '',
    context    JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_action ON events (action, created_at);
CREATE INDEX events_expires ON events (expires_at);
