-- Secure messages between sessions, and agreements signed by the parties'
-- registered devices.
--
-- Messages. A case has one thread for everyone on it (party_id NULL) and one
-- private thread per person on it with the case's mediator (party_id set):
-- the caucus of the written channel. Who may read a message is decided here,
-- as for documents:
--   * the whole case's thread: the case's mediator and every person on the case;
--   * a private thread: the case's mediator and that one person.
-- Org admins are not members of any thread: messages are mediation content.
-- The body is case content: it is stored only encrypted, under a data key of
-- its own that the vault's key service wraps with the encryption context
-- {org, case, message}; it never reaches a log or the audit log.
--
-- Agreements. The agreement to mediate and the settlement agreement of a
-- case, drafted by its mediator (text, encrypted like messages), edited in
-- versions while a draft, then sent for signature: its canonical SHA-256 is
-- fixed then. Each signatory's registered device (devices.jkt) signs a
-- statement naming the agreement, that hash, the person, their typed name and
-- the time; the statement's parts, the public key and the device are kept so
-- that `accord agreement verify` checks everything offline. Once every
-- signatory has signed, the agreement is locked: neither its text nor its
-- signatures change again, whoever asks.

CREATE TABLE case_messages (
    org_id         uuid NOT NULL,
    id             uuid NOT NULL PRIMARY KEY,
    case_id        uuid NOT NULL,
    -- NULL: the whole case's thread; else the private thread of this person.
    party_id       uuid,
    sender_id      uuid NOT NULL REFERENCES users (id),
    key_id         text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 2048),
    wrapped_key    bytea NOT NULL CHECK (length(wrapped_key) BETWEEN 1 AND 6144),
    ciphertext     bytea NOT NULL CHECK (length(ciphertext) BETWEEN 1 AND 65536),
    -- A vault document of the same visibility as the thread.
    attachment_id  uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT case_messages_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE,
    CONSTRAINT case_messages_party FOREIGN KEY (org_id, case_id, party_id)
        REFERENCES case_parties (org_id, case_id, id) ON DELETE CASCADE,
    CONSTRAINT case_messages_attachment FOREIGN KEY (org_id, attachment_id)
        REFERENCES documents (org_id, id)
);
CREATE INDEX case_messages_thread ON case_messages (org_id, case_id, party_id, created_at);

-- Read receipts: who has read which message, and when.
CREATE TABLE message_reads (
    org_id      uuid NOT NULL,
    message_id  uuid NOT NULL REFERENCES case_messages (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id),
    read_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_reads_user ON message_reads (org_id, user_id);

-- Whether the current user is a member of the thread (p_case, p_party).
-- The system (workers and operator commands, no user) sees the org's.
CREATE FUNCTION accord_thread_member(p_case uuid, p_party uuid) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT accord_user() IS NULL
            OR EXISTS (SELECT 1 FROM cases c
                       WHERE c.org_id = accord_org() AND c.id = p_case
                         AND c.mediator_id = accord_user())
            OR (p_party IS NULL
                AND EXISTS (SELECT 1 FROM case_parties cp
                            WHERE cp.org_id = accord_org() AND cp.case_id = p_case
                              AND cp.user_id = accord_user()))
            OR (p_party IS NOT NULL
                AND EXISTS (SELECT 1 FROM case_parties cp
                            WHERE cp.org_id = accord_org() AND cp.case_id = p_case
                              AND cp.id = p_party AND cp.user_id = accord_user()))
    $$;

ALTER TABLE case_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY case_messages_read ON case_messages FOR SELECT
    USING (org_id = accord_org() AND accord_thread_member(case_id, party_id));
-- One writes only as oneself, only to a thread one belongs to.
CREATE POLICY case_messages_insert ON case_messages FOR INSERT
    WITH CHECK (org_id = accord_org() AND sender_id = accord_user()
                AND accord_thread_member(case_id, party_id));
-- Messages are a record: never edited; removed only with their case or person.
GRANT SELECT, INSERT ON case_messages TO accord_app;

ALTER TABLE message_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_reads FORCE ROW LEVEL SECURITY;
-- Through the messages policy (the subquery is itself policed).
CREATE POLICY message_reads_read ON message_reads FOR SELECT
    USING (org_id = accord_org()
           AND EXISTS (SELECT 1 FROM case_messages m WHERE m.id = message_id));
CREATE POLICY message_reads_insert ON message_reads FOR INSERT
    WITH CHECK (org_id = accord_org() AND user_id = accord_user()
                AND EXISTS (SELECT 1 FROM case_messages m WHERE m.id = message_id));
GRANT SELECT, INSERT ON message_reads TO accord_app;

CREATE TABLE agreements (
    org_id          uuid NOT NULL,
    id              uuid NOT NULL PRIMARY KEY,
    case_id         uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('agreement_to_mediate', 'settlement')),
    status          text NOT NULL CHECK (status IN ('draft', 'signing', 'signed')),
    -- Counts edits; part of the hashed text, so a signature names its version.
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    -- The title and text (Markdown), encrypted together (case content).
    key_id          text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 2048),
    wrapped_key     bytea NOT NULL CHECK (length(wrapped_key) BETWEEN 1 AND 6144),
    ciphertext      bytea NOT NULL CHECK (length(ciphertext) BETWEEN 1 AND 1048576),
    -- The canonical SHA-256, fixed when sent for signature.
    content_sha256  bytea CHECK (length(content_sha256) = 32),
    created_by      uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    signed_at       timestamptz,
    UNIQUE (org_id, id),
    CONSTRAINT agreements_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE,
    CONSTRAINT agreements_hashed CHECK ((status = 'draft') = (content_sha256 IS NULL)),
    CONSTRAINT agreements_signed CHECK ((status = 'signed') = (signed_at IS NOT NULL))
);
CREATE INDEX agreements_case ON agreements (org_id, case_id, created_at);

CREATE TABLE agreement_signatures (
    org_id          uuid NOT NULL,
    id              uuid NOT NULL PRIMARY KEY,
    agreement_id    uuid NOT NULL,
    case_id         uuid NOT NULL,
    party_id        uuid NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id),
    -- The device registration the key comes from, and its thumbprint then.
    device_id       uuid NOT NULL REFERENCES devices (id),
    device_jkt      text NOT NULL CHECK (device_jkt ~ '^[A-Za-z0-9_-]{43}$'),
    public_key      jsonb NOT NULL,
    content_sha256  bytea NOT NULL CHECK (length(content_sha256) = 32),
    typed_name      text NOT NULL CHECK (length(typed_name) BETWEEN 1 AND 200),
    -- The time exactly as signed (RFC 3339), and parsed.
    signed_at_text  text NOT NULL CHECK (length(signed_at_text) BETWEEN 1 AND 64),
    signed_at       timestamptz NOT NULL,
    -- ECDSA P-256 over SHA-256, raw r‖s.
    signature       bytea NOT NULL CHECK (length(signature) = 64),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agreement_signatures_agreement FOREIGN KEY (org_id, agreement_id)
        REFERENCES agreements (org_id, id) ON DELETE CASCADE,
    CONSTRAINT agreement_signatures_party FOREIGN KEY (org_id, case_id, party_id)
        REFERENCES case_parties (org_id, case_id, id),
    CONSTRAINT agreement_signatures_once UNIQUE (agreement_id, party_id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['agreements', 'agreement_signatures'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (org_id = accord_org()) WITH CHECK (org_id = accord_org())',
            t || '_tenant', t);
    END LOOP;
END
$$;
-- Who on the org may read a case's agreements (its mediator, the people on
-- it, org admins) is the API's, through the permission matrix.
GRANT SELECT, INSERT ON agreements, agreement_signatures TO accord_app;
GRANT UPDATE (status, version, key_id, wrapped_key, ciphertext, content_sha256, updated_at,
              sent_at, signed_at) ON agreements TO accord_app;

-- A second line behind the API: a signed agreement never changes, and a text
-- out for signature changes only by being signed.
CREATE FUNCTION accord_agreement_lock() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'agreement % is signed and locked', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_locked';
    END IF;
    IF OLD.status = 'signing' AND (NEW.ciphertext IS DISTINCT FROM OLD.ciphertext
            OR NEW.content_sha256 IS DISTINCT FROM OLD.content_sha256
            OR NEW.version IS DISTINCT FROM OLD.version) THEN
        RAISE EXCEPTION 'agreement % is out for signature', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_locked';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER agreements_lock BEFORE UPDATE ON agreements
    FOR EACH ROW EXECUTE FUNCTION accord_agreement_lock();
