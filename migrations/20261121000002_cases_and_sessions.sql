-- Cases, the people on them, and scheduled mediation sessions.
--
-- Composite foreign keys on (org_id, ...) keep every reference inside one org:
-- a case cannot name a mediator of another org, a party cannot hang off another
-- org's case. Every table here is tenant-owned and policed by org_id.

CREATE TABLE cases (
    org_id       uuid NOT NULL REFERENCES organizations (id),
    id           uuid NOT NULL PRIMARY KEY,
    reference    text NOT NULL CHECK (length(reference) BETWEEN 1 AND 64),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'on_hold', 'settled', 'closed')),
    mediator_id  uuid,
    created_by   uuid NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    CONSTRAINT cases_reference_unique UNIQUE (org_id, reference),
    CONSTRAINT cases_mediator_member FOREIGN KEY (org_id, mediator_id)
        REFERENCES memberships (org_id, user_id)
);
-- Cursor pagination walks (created_at, id) newest first.
CREATE INDEX cases_listing ON cases (org_id, created_at DESC, id DESC);
CREATE INDEX cases_mediator ON cases (org_id, mediator_id);

-- A person on a case: a party, their counsel, or an interpreter. `user_id` links
-- the entry to an account (membership) once the person has one.
CREATE TABLE case_parties (
    org_id        uuid NOT NULL,
    id            uuid NOT NULL PRIMARY KEY,
    case_id       uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('party', 'counsel', 'interpreter')),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    email         text NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    user_id       uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT case_parties_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE,
    CONSTRAINT case_parties_member FOREIGN KEY (org_id, user_id)
        REFERENCES memberships (org_id, user_id),
    CONSTRAINT case_parties_email_unique UNIQUE (case_id, email)
);
CREATE INDEX case_parties_user ON case_parties (org_id, user_id);

-- A scheduled session: the instant is stored in UTC, with the IANA zone it was
-- planned in so that reminders and calendars show the organiser's wall clock.
CREATE TABLE sessions (
    org_id            uuid NOT NULL,
    id                uuid NOT NULL PRIMARY KEY,
    case_id           uuid NOT NULL,
    starts_at         timestamptz NOT NULL,
    time_zone         text NOT NULL,
    duration_minutes  integer NOT NULL CHECK (duration_minutes BETWEEN 15 AND 720),
    status            text NOT NULL DEFAULT 'scheduled'
                      CHECK (status IN ('scheduled', 'cancelled', 'completed')),
    lobby_enabled     boolean NOT NULL DEFAULT true,
    created_by        uuid NOT NULL REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_case ON sessions (org_id, case_id, starts_at);
CREATE INDEX sessions_upcoming ON sessions (org_id, starts_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cases', 'case_parties', 'sessions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (org_id = accord_org()) WITH CHECK (org_id = accord_org())',
            t || '_tenant', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO accord_app', t);
    END LOOP;
END
$$;
