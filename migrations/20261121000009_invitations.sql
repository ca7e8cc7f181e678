-- Single-use invite links and the devices they register.
--
-- An invitation lets one person on a case (a party, their counsel, an
-- interpreter) into the client portal once, from one browser. Only the SHA-256
-- of its random token is stored; the token itself travels in the mail and in
-- the URL's fragment. Redeeming it registers the browser's device key (the RFC
-- 7638 thumbprint of a non-extractable P-256 key, the `cnf.jkt` of join
-- tokens) for that person, and from then on join tokens are issued for that
-- key only. A re-invite revokes the device and issues a new link.
--
-- Both tables are tenant-owned and policed by org_id. The only read before a
-- tenant is known is `accord_lookup_invitation`, which maps a token hash to its
-- org and nothing more.

-- How long an invite link stays valid, per org.
ALTER TABLE organizations
    ADD COLUMN invite_ttl_days integer NOT NULL DEFAULT 14
        CHECK (invite_ttl_days BETWEEN 1 AND 90);
GRANT UPDATE (invite_ttl_days) ON organizations TO accord_app;

-- Lets invitations and devices name a person together with their case and org,
-- so that neither can point at a person of another case or org.
ALTER TABLE case_parties ADD CONSTRAINT case_parties_scope UNIQUE (org_id, case_id, id);

CREATE TABLE invitations (
    org_id               uuid NOT NULL REFERENCES organizations (id),
    id                   uuid NOT NULL PRIMARY KEY,
    case_id              uuid NOT NULL,
    party_id             uuid NOT NULL,
    token_hash           bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by           uuid REFERENCES users (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    -- What the mailer last said about the mail carrying the link: queued (not
    -- yet handed over), sent (handed to the transport), delivered (accepted by
    -- the SMTP server), failed (gave up), bounced (reported undeliverable).
    delivery_state       text NOT NULL DEFAULT 'queued'
                         CHECK (delivery_state IN ('queued', 'sent', 'delivered', 'failed', 'bounced')),
    -- A short machine-made reason (an SMTP reply code, "connection refused"):
    -- never message content.
    delivery_detail      text CHECK (length(delivery_detail) <= 200),
    delivery_updated_at  timestamptz,
    -- First time someone tried to redeem it.
    opened_at            timestamptz,
    redeemed_at          timestamptz,
    device_id            uuid,
    -- Replaced by a newer link for the same person (resend, re-invite).
    voided_at            timestamptz,
    CONSTRAINT invitations_party FOREIGN KEY (org_id, case_id, party_id)
        REFERENCES case_parties (org_id, case_id, id) ON DELETE CASCADE
);
CREATE INDEX invitations_party ON invitations (org_id, party_id, created_at DESC);

CREATE TABLE devices (
    org_id         uuid NOT NULL REFERENCES organizations (id),
    id             uuid NOT NULL PRIMARY KEY,
    case_id        uuid NOT NULL,
    party_id       uuid NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id),
    jkt            text NOT NULL CHECK (jkt ~ '^[A-Za-z0-9_-]{43}$'),
    invitation_id  uuid NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_by     uuid REFERENCES users (id),
    -- The web session the redemption started, ended when the device is revoked.
    web_session_id uuid,
    CONSTRAINT devices_party FOREIGN KEY (org_id, case_id, party_id)
        REFERENCES case_parties (org_id, case_id, id) ON DELETE CASCADE
);
-- One live device per person on a case: a second redemption racing the first
-- fails here even if it got past the invitation's lock.
CREATE UNIQUE INDEX devices_one_live ON devices (party_id) WHERE revoked_at IS NULL;
CREATE INDEX devices_user ON devices (org_id, user_id);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_read ON invitations FOR SELECT
    USING (org_id = accord_org() OR current_user = 'accord_lookup');
CREATE POLICY invitations_insert ON invitations FOR INSERT WITH CHECK (org_id = accord_org());
CREATE POLICY invitations_update ON invitations FOR UPDATE
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT ON invitations TO accord_app;
GRANT UPDATE (delivery_state, delivery_detail, delivery_updated_at, opened_at, redeemed_at,
              device_id, voided_at)
    ON invitations TO accord_app;
GRANT SELECT (org_id, token_hash) ON invitations TO accord_lookup;

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
CREATE POLICY devices_tenant ON devices
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT ON devices TO accord_app;
GRANT UPDATE (revoked_at, revoked_by) ON devices TO accord_app;

-- The org of the invitation whose token hashes to p_hash, or NULL.
GRANT CREATE ON SCHEMA public TO accord_lookup;
CREATE FUNCTION accord_lookup_invitation(p_hash bytea) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT org_id FROM invitations WHERE token_hash = p_hash $$;
ALTER FUNCTION accord_lookup_invitation(bytea) OWNER TO accord_lookup;
REVOKE ALL ON FUNCTION accord_lookup_invitation(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accord_lookup_invitation(bytea) TO accord_app;
REVOKE CREATE ON SCHEMA public FROM accord_lookup;
