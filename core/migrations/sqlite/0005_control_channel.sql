-- The control channel: proxy providers become OAuth2 clients of the core (their
-- outposts sign users in with them), and users can lose access as a whole.
-- Keep in step with ../postgres/.

-- A proxy provider's client id is found by index like an OAuth2 provider's.
UPDATE providers SET client_id = json_extract(settings, '$.client_id')
    WHERE kind = 'proxy' AND json_extract(settings, '$.client_id') <> '';

-- A user whose sessions from before revoked_at no longer open anything behind an
-- outpost: deactivated, deleted, or moved out of a group (the outpost's cookie
-- carries the groups of its sign-in). No foreign key: a deleted user's row must stay.
CREATE TABLE user_revocations (
    user_id    TEXT PRIMARY KEY,
    revoked_at TEXT NOT NULL
);
CREATE INDEX user_revocations_at ON user_revocations (revoked_at);
