-- The audit log: append-only and hash-chained per org.
--
-- Each event's hash covers its own fields and the previous event's hash, so an
-- edited, deleted or reordered row breaks the chain (`accord audit verify`).
-- `audit_heads` holds the last sequence number and hash of each org's chain; it is
-- updated in the same transaction as the insert, which serialises appends per
-- org (row lock) and lets verification notice a truncated tail.
-- The app role may INSERT and SELECT events, never UPDATE or DELETE them, and a
-- trigger refuses UPDATE/DELETE for every role as a second line.
-- Events carry identifiers only: never names, emails or case content.

CREATE TABLE audit_events (
    org_id         uuid NOT NULL REFERENCES organizations (id),
    seq            bigint NOT NULL CHECK (seq > 0),
    id             uuid NOT NULL UNIQUE,
    occurred_at    timestamptz NOT NULL,
    actor_user_id  uuid,
    action         text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    target_type    text NOT NULL CHECK (target_type ~ '^[a-z_]+$'),
    target_id      uuid,
    request_id     text CHECK (length(request_id) <= 128),
    prev_hash      bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (org_id, seq)
);

CREATE TABLE audit_heads (
    org_id  uuid PRIMARY KEY REFERENCES organizations (id),
    seq     bigint NOT NULL CHECK (seq >= 0),
    hash    bytea NOT NULL CHECK (length(hash) = 32)
);

CREATE FUNCTION accord_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION accord_audit_append_only();

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_tenant ON audit_events
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT ON audit_events TO accord_app;

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_heads_tenant ON audit_heads
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT, UPDATE ON audit_heads TO accord_app;
