-- The durable job queue: outgoing mail (invitations, calendar updates,
-- reminders, password links).
--
-- A change enqueues its messages in the same transaction as the change, so a
-- rolled-back change mails nobody and a committed one is never forgotten. A
-- worker claims due jobs with FOR UPDATE SKIP LOCKED (several workers never
-- claim the same job), marks them `running` with a lease, sends, and marks
-- them `sent`; a failure puts the job back with exponential back-off until
-- `max_attempts`, then keeps it as `failed` for admins to see and retry.
-- A worker that dies mid-job leaves it `running`; once the lease has expired
-- another worker takes it again (at-least-once delivery).
--
-- `idempotency_key` is unique: enqueuing the same message twice is a no-op.
-- `payload` is the rendered message; it holds links, so it is cleared once
-- the message is sent. `org_id` is NULL for account-level mail (password
-- reset), which only a transaction with no org can see.

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    org_id           uuid REFERENCES organizations (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- Jobs a later change may withdraw together (e.g. `session:<id>` reminders).
    group_key        text CHECK (length(group_key) BETWEEN 1 AND 200),
    recipient        text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 320),
    subject          text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
    payload          jsonb,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'sent', 'failed', 'cancelled')),
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL DEFAULT 8 CHECK (max_attempts > 0),
    locked_until     timestamptz,
    last_error       text CHECK (length(last_error) <= 2000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_group ON jobs (group_key) WHERE status = 'pending';
CREATE INDEX jobs_org_status ON jobs (org_id, status, updated_at DESC);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY jobs_tenant ON jobs
    USING (org_id IS NOT DISTINCT FROM accord_org() OR current_user = 'accord_lookup')
    WITH CHECK (org_id IS NOT DISTINCT FROM accord_org());
GRANT SELECT, INSERT, UPDATE ON jobs TO accord_app;
GRANT SELECT (org_id, status, run_at, locked_until) ON jobs TO accord_lookup;

-- Which orgs (NULL: account-level mail) have jobs due: the worker then
-- claims them in a transaction scoped to each. Ids only.
GRANT CREATE ON SCHEMA public TO accord_lookup;
CREATE FUNCTION accord_jobs_due_orgs(p_limit integer) RETURNS TABLE (org_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT DISTINCT j.org_id FROM jobs j
        WHERE (j.status = 'pending' AND j.run_at <= now())
           OR (j.status = 'running' AND j.locked_until < now())
        LIMIT p_limit
    $$;
ALTER FUNCTION accord_jobs_due_orgs(integer) OWNER TO accord_lookup;
REVOKE ALL ON FUNCTION accord_jobs_due_orgs(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accord_jobs_due_orgs(integer) TO accord_app;
REVOKE CREATE ON SCHEMA public FROM accord_lookup;

-- The calendar SEQUENCE of each session (RFC 5545): 0 when scheduled, raised
-- on every move and on cancellation, so calendars apply updates in order.
CREATE TABLE session_calendar_sequences (
    session_id  uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    sequence    integer NOT NULL DEFAULT 0 CHECK (sequence >= 0)
);
ALTER TABLE session_calendar_sequences ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_calendar_sequences FORCE ROW LEVEL SECURITY;
CREATE POLICY session_calendar_sequences_tenant ON session_calendar_sequences
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
GRANT SELECT, INSERT, UPDATE ON session_calendar_sequences TO accord_app;

-- When reminders go out before a session, in minutes (default 24 h and 1 h);
-- an empty array sends none.
ALTER TABLE organizations ADD COLUMN reminder_lead_minutes integer[] NOT NULL DEFAULT '{1440,60}'
    CHECK (cardinality(reminder_lead_minutes) <= 4 AND 0 < ALL (reminder_lead_minutes)
           AND 40320 >= ALL (reminder_lead_minutes));
GRANT UPDATE (reminder_lead_minutes) ON organizations TO accord_app;
