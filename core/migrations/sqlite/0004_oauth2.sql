-- OAuth 2.0 / OpenID Connect: client ids looked up by index, authorization codes,
-- access and refresh tokens (only hashes of their secrets), and consents.
-- Keep in step with ../postgres/.

-- The client id of an OAuth2 provider, copied out of its settings on every write so
-- that the token endpoint finds the client by index and two clients cannot share it.
ALTER TABLE providers ADD COLUMN client_id TEXT;
UPDATE providers SET client_id = json_extract(settings, '$.client_id')
    WHERE kind = 'oauth2' AND json_extract(settings, '$.client_id') <> '';
CREATE UNIQUE INDEX providers_client_id ON providers (client_id);

-- An authorization code, until it expires. A used code stays (with used_at) so that a
-- replay is recognised and the tokens issued from it can be revoked.
CREATE TABLE oauth2_codes (
    id             TEXT PRIMARY KEY,
    code_hash      TEXT NOT NULL UNIQUE,
    provider_id    TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     TEXT,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      TEXT NOT NULL,
    auth_methods   TEXT NOT NULL DEFAULT '[]',
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT
);
CREATE INDEX oauth2_codes_expires ON oauth2_codes (expires_at);

-- Access and refresh tokens. Every token of one grant (a code, and the refresh
-- tokens rotated from it) shares grant_id, so that the whole grant is revoked at once
-- when a code is replayed or a rotated refresh token comes back.
CREATE TABLE oauth2_tokens (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    provider_id  TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id   TEXT,
    grant_id     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    nonce        TEXT,
    auth_time    TEXT,
    auth_methods TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    revoked_at   TEXT
);
CREATE INDEX oauth2_tokens_grant ON oauth2_tokens (grant_id);
CREATE INDEX oauth2_tokens_expires ON oauth2_tokens (expires_at);

-- A user's consent to an application's scopes; expires_at NULL: for good.
CREATE TABLE oauth2_consents (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT,
    PRIMARY KEY (user_id, application_id)
);

-- RFC 8628 device authorization: the device polls with device_code (stored hashed)
-- while the user types user_code on /if/device/ and approves it there.
CREATE TABLE oauth2_device_codes (
    id               TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code        TEXT NOT NULL UNIQUE,
    provider_id      TEXT NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id       TEXT,
    auth_time        TEXT,
    auth_methods     TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    approved_at      TEXT,
    denied_at        TEXT,
    last_polled_at   TEXT,
    used_at          TEXT
);
CREATE INDEX oauth2_device_codes_expires ON oauth2_device_codes (expires_at);
