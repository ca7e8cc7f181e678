-- Sign-in state: web sessions, single-use password links, TOTP recovery codes,
-- linked OIDC identities, pending OIDC logins and the sign-in throttle.
--
-- These rows belong to an account, not to a tenant, and hold only identifiers
-- and hashes of secrets (never a token itself), so they are looked up by hash
-- without an org context. They carry no mediation content.

CREATE TABLE web_sessions (
    id            uuid PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id       uuid NOT NULL REFERENCES users (id),
    org_id        uuid NOT NULL REFERENCES organizations (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX web_sessions_user ON web_sessions (user_id) WHERE revoked_at IS NULL;
GRANT SELECT, INSERT ON web_sessions TO accord_app;
GRANT UPDATE (revoked_at) ON web_sessions TO accord_app;

CREATE TABLE password_links (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    user_id     uuid NOT NULL REFERENCES users (id),
    purpose     text NOT NULL CHECK (purpose IN ('setup', 'reset')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
GRANT SELECT, INSERT ON password_links TO accord_app;
GRANT UPDATE (used_at) ON password_links TO accord_app;

CREATE TABLE recovery_codes (
    user_id     uuid NOT NULL REFERENCES users (id),
    code_hash   bytea NOT NULL CHECK (length(code_hash) = 32),
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
GRANT SELECT, INSERT, DELETE ON recovery_codes TO accord_app;
GRANT UPDATE (used_at) ON recovery_codes TO accord_app;

-- An OIDC subject linked to an account after its verified email matched.
CREATE TABLE user_identities (
    issuer      text NOT NULL,
    subject     text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
GRANT SELECT, INSERT ON user_identities TO accord_app;

-- Between redirecting to the identity provider and its callback: the nonce and
-- PKCE verifier stay server-side (for at most ten minutes), keyed by a hash of
-- the state parameter; binding_hash ties the login to the browser that began it.
CREATE TABLE oidc_logins (
    state_hash    bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    binding_hash  bytea NOT NULL CHECK (length(binding_hash) = 32),
    pending       jsonb NOT NULL,
    org_slug    text,
    expires_at  timestamptz NOT NULL
);
GRANT SELECT, INSERT, DELETE ON oidc_logins TO accord_app;

-- Consecutive failed sign-ins per email address, keyed by a hash of the
-- address whether or not an account uses it: a lock-out that only existing
-- accounts could get would tell an attacker which addresses have accounts.
CREATE TABLE sign_in_throttle (
    email_hash    bytea PRIMARY KEY CHECK (length(email_hash) = 32),
    failures      integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON sign_in_throttle TO accord_app;
