-- Availability windows and working hours, from which the API proposes the
-- earliest slots common to everyone on a case.
--
-- A window is a stretch of a person's own wall clock (`2026-03-30 09:00` to
-- `12:00` in `America/New_York`), stored as local timestamps with the zone
-- they are on, never as instants: whether 09:00 is 13:00 or 14:00 UTC is
-- worked out when slots are searched, so a window across a daylight-saving
-- change keeps meaning what the person said. The accord-domain crate checks
-- that windows are well formed and do not overlap; the checks here are the
-- last line.

CREATE TABLE availability_windows (
    org_id        uuid NOT NULL REFERENCES organizations (id),
    id            uuid NOT NULL PRIMARY KEY,
    case_id       uuid NOT NULL,
    -- Whose windows: a person on the case (party, counsel, interpreter), or
    -- a member speaking for themselves (the case's mediator). Exactly one.
    party_id      uuid REFERENCES case_parties (id) ON DELETE CASCADE,
    user_id       uuid,
    time_zone     text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    starts_local  timestamp NOT NULL,
    ends_local    timestamp NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT availability_windows_order CHECK (ends_local > starts_local),
    CONSTRAINT availability_windows_length CHECK (ends_local - starts_local <= interval '7 days'),
    CONSTRAINT availability_windows_owner CHECK ((party_id IS NULL) <> (user_id IS NULL)),
    CONSTRAINT availability_windows_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE,
    CONSTRAINT availability_windows_member FOREIGN KEY (org_id, user_id)
        REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX availability_windows_case_idx ON availability_windows (org_id, case_id, starts_local);
CREATE INDEX availability_windows_party_idx ON availability_windows (party_id);

-- When an org holds sessions: hours per weekday on the org's clock. Without a
-- row the org has the default, Monday to Friday 09:00 to 17:00 UTC.
CREATE TABLE org_working_hours (
    org_id      uuid NOT NULL PRIMARY KEY REFERENCES organizations (id),
    time_zone   text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    updated_by  uuid REFERENCES users (id),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The days of the week with sessions (ISO numbering: 1 is Monday); a day
-- without a row has none.
CREATE TABLE org_working_days (
    org_id   uuid NOT NULL REFERENCES org_working_hours (org_id) ON DELETE CASCADE,
    weekday  smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts   time NOT NULL,
    ends     time NOT NULL,
    PRIMARY KEY (org_id, weekday),
    CONSTRAINT org_working_days_order CHECK (ends > starts)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['availability_windows', 'org_working_hours', 'org_working_days'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (org_id = accord_org()) WITH CHECK (org_id = accord_org())',
            t || '_tenant', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO accord_app', t);
    END LOOP;
END
$$;
