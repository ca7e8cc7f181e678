-- The documents vault: documents, their versions, legal holds, and the
-- org's upload limit and retention.
--
-- Content lives encrypted in the object store (accord-vault); a version's row
-- holds the object's key and the data key that decrypts it, wrapped by the
-- key service (KMS or the local key file) under the encryption context
-- {org, case, document}. Erasing a version destroys the wrapped key
-- (crypto-shredding: every copy of the ciphertext becomes noise) and then
-- deletes the object; the row stays, without key or name, for the audit
-- trail.
--
-- Who may see a document is decided here, not by the API's filters:
--   * 'case':      everyone on the case (mediator, parties, counsel,
--                  interpreters) and the org's admins;
--   * 'mediators': the case's mediator;
--   * 'party':     the case's mediator and one person on the case
--                  (`party_user_id`): a caucus-private document.
-- The uploader always sees what they uploaded. A version that is not yet
-- scanned clean (pending, quarantined) is visible to its uploader alone,
-- and a document shows to others only once one of its versions is released.
-- The system (workers and operator commands run with no user) sees the
-- org's documents, still confined to the org.

ALTER TABLE organizations
    ADD COLUMN document_max_bytes bigint NOT NULL DEFAULT 104857600
        CHECK (document_max_bytes BETWEEN 1 AND 17179869184),
    -- Erase a closed case's documents this many days after it closed; NULL keeps them.
    ADD COLUMN document_retention_days integer
        CHECK (document_retention_days BETWEEN 1 AND 36500);
GRANT UPDATE (document_max_bytes, document_retention_days) ON organizations TO accord_app;

CREATE TABLE documents (
    org_id         uuid NOT NULL,
    id             uuid NOT NULL PRIMARY KEY,
    case_id        uuid NOT NULL,
    visibility     text NOT NULL CHECK (visibility IN ('case', 'mediators', 'party')),
    party_user_id  uuid,
    -- Set once any version is released (scanned clean, or scanning disabled).
    released       boolean NOT NULL DEFAULT false,
    -- The number the next version takes, less one: counted here because a
    -- reader may not see every version (another uploader's pending one).
    versions       integer NOT NULL DEFAULT 0 CHECK (versions >= 0),
    created_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    erased_at      timestamptz,
    UNIQUE (org_id, id),
    CONSTRAINT documents_case FOREIGN KEY (org_id, case_id) REFERENCES cases (org_id, id),
    CONSTRAINT documents_party_member FOREIGN KEY (org_id, party_user_id)
        REFERENCES memberships (org_id, user_id),
    CONSTRAINT documents_party_only_when_private
        CHECK ((visibility = 'party') = (party_user_id IS NOT NULL))
);
CREATE INDEX documents_case ON documents (org_id, case_id, created_at DESC);

CREATE TABLE document_versions (
    org_id        uuid NOT NULL,
    id            uuid NOT NULL PRIMARY KEY,
    document_id   uuid NOT NULL,
    case_id       uuid NOT NULL,
    version       integer NOT NULL CHECK (version > 0),
    -- Case content: never logged, never in the audit log. NULL once erased.
    filename      text CHECK (length(filename) BETWEEN 1 AND 200),
    media_type    text NOT NULL CHECK (length(media_type) BETWEEN 3 AND 127),
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    object_key    text NOT NULL UNIQUE CHECK (object_key ~ '^[a-z0-9/_.-]+$' AND length(object_key) <= 512),
    key_id        text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 2048),
    -- NULL once erased: the ciphertext can no longer be decrypted.
    wrapped_key   bytea CHECK (length(wrapped_key) BETWEEN 1 AND 6144),
    scan_state    text NOT NULL
                  CHECK (scan_state IN ('pending', 'clean', 'quarantined', 'not_scanned')),
    scan_detail   text CHECK (length(scan_detail) <= 200),
    scanned_at    timestamptz,
    uploaded_by   uuid NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz,
    CONSTRAINT document_versions_document FOREIGN KEY (org_id, document_id)
        REFERENCES documents (org_id, id),
    CONSTRAINT document_versions_number UNIQUE (document_id, version),
    CONSTRAINT document_versions_erased_have_no_key
        CHECK (erased_at IS NULL OR (wrapped_key IS NULL AND filename IS NULL))
);
CREATE INDEX document_versions_document ON document_versions (org_id, document_id, version DESC);
CREATE INDEX document_versions_case ON document_versions (org_id, case_id);

-- A legal hold on a case: while it stands, nothing of the case is erased.
CREATE TABLE legal_holds (
    org_id     uuid NOT NULL,
    case_id    uuid NOT NULL PRIMARY KEY,
    placed_by  uuid REFERENCES users (id),
    placed_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT legal_holds_case FOREIGN KEY (org_id, case_id) REFERENCES cases (org_id, id)
);

-- Whether the current user may see a document with these attributes.
CREATE FUNCTION accord_document_visible(
    p_case uuid, p_visibility text, p_party_user uuid, p_created_by uuid
) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT accord_user() IS NULL
            OR p_created_by = accord_user()
            OR EXISTS (SELECT 1 FROM cases c
                       WHERE c.org_id = accord_org() AND c.id = p_case
                         AND c.mediator_id = accord_user())
            OR (p_visibility = 'case' AND (
                    EXISTS (SELECT 1 FROM case_parties cp
                            WHERE cp.org_id = accord_org() AND cp.case_id = p_case
                              AND cp.user_id = accord_user())
                 OR EXISTS (SELECT 1 FROM memberships m
                            WHERE m.org_id = accord_org() AND m.user_id = accord_user()
                              AND m.role = 'org_admin')))
            OR (p_visibility = 'party' AND p_party_user = accord_user()
                AND EXISTS (SELECT 1 FROM case_parties cp
                            WHERE cp.org_id = accord_org() AND cp.case_id = p_case
                              AND cp.user_id = accord_user()))
    $$;

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY documents_read ON documents FOR SELECT
    USING (org_id = accord_org()
           AND accord_document_visible(case_id, visibility, party_user_id, created_by)
           AND (released OR created_by = accord_user() OR accord_user() IS NULL));
-- One may only file a document one could then see.
CREATE POLICY documents_insert ON documents FOR INSERT
    WITH CHECK (org_id = accord_org()
                AND accord_document_visible(case_id, visibility, party_user_id, created_by));
CREATE POLICY documents_update ON documents FOR UPDATE
    USING (org_id = accord_org()
           AND accord_document_visible(case_id, visibility, party_user_id, created_by))
    WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT ON documents TO accord_app;
GRANT UPDATE (visibility, party_user_id, released, versions, updated_at, erased_at) ON documents TO accord_app;

ALTER TABLE document_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_versions FORCE ROW LEVEL SECURITY;
-- Through the documents policy (the subquery is itself policed): a version is
-- visible only with its document, and only once released unless it is one's own.
CREATE POLICY document_versions_read ON document_versions FOR SELECT
    USING (org_id = accord_org()
           AND EXISTS (SELECT 1 FROM documents d WHERE d.id = document_id)
           AND (scan_state IN ('clean', 'not_scanned')
                OR uploaded_by = accord_user() OR accord_user() IS NULL));
CREATE POLICY document_versions_insert ON document_versions FOR INSERT
    WITH CHECK (org_id = accord_org() AND uploaded_by = accord_user()
                AND EXISTS (SELECT 1 FROM documents d WHERE d.id = document_id));
-- Scan results and erasure are the system's (workers, with no user).
CREATE POLICY document_versions_update ON document_versions FOR UPDATE
    USING (org_id = accord_org() AND accord_user() IS NULL)
    WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT ON document_versions TO accord_app;
GRANT UPDATE (filename, wrapped_key, scan_state, scan_detail, scanned_at, erased_at)
    ON document_versions TO accord_app;

ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
ALTER TABLE legal_holds FORCE ROW LEVEL SECURITY;
CREATE POLICY legal_holds_tenant ON legal_holds
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT, DELETE ON legal_holds TO accord_app;

-- A version released (clean or unscanned) releases its document. In the
-- database so that no code path can release a version and forget the document.
CREATE FUNCTION accord_document_release() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NEW.scan_state IN ('clean', 'not_scanned') THEN
            UPDATE documents SET released = true, updated_at = now()
            WHERE id = NEW.document_id AND NOT released;
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER document_versions_release
    AFTER INSERT OR UPDATE OF scan_state ON document_versions
    FOR EACH ROW EXECUTE FUNCTION accord_document_release();

-- A legal hold blocks every erasure of its case, whichever code asks.
CREATE FUNCTION accord_document_hold_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF OLD.wrapped_key IS NOT NULL AND NEW.wrapped_key IS NULL
           AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.case_id = NEW.case_id) THEN
            RAISE EXCEPTION 'case % is under legal hold', NEW.case_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'legal_hold';
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER document_versions_hold
    BEFORE UPDATE OF wrapped_key ON document_versions
    FOR EACH ROW EXECUTE FUNCTION accord_document_hold_guard();

-- Which orgs keep documents for a limited time: the retention sweep then
-- works in a transaction scoped to each. Ids only.
GRANT CREATE ON SCHEMA public TO accord_lookup;
CREATE FUNCTION accord_retention_orgs() RETURNS TABLE (org_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id FROM organizations WHERE document_retention_days IS NOT NULL $$;
ALTER FUNCTION accord_retention_orgs() OWNER TO accord_lookup;
REVOKE ALL ON FUNCTION accord_retention_orgs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accord_retention_orgs() TO accord_app;
REVOKE CREATE ON SCHEMA public FROM accord_lookup;
