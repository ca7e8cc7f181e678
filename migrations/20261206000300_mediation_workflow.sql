-- The mediation workflow: conflicts of interest, fees and invoices, the
-- sessions a case actually held, and the intake form.
--
-- Every table is tenant-owned and policed by org_id like the rest. Who within
-- an org may read a row (a party only their own invoice share and their own
-- intake answers) is decided by the API through the permission matrix; the
-- org boundary is Postgres's.

-- Per-org switches for the workflow.
CREATE TABLE org_workflow_settings (
    org_id               uuid PRIMARY KEY REFERENCES organizations (id),
    -- Whether the people on a case are told of a conflict that an org admin
    -- overrode when assigning its mediator.
    disclose_conflicts   boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- A mediator's declared relationships. `value` is normalised by the domain
-- (folded organisation name, lower-case address or domain), so matching is a
-- plain comparison.
CREATE TABLE mediator_declarations (
    org_id       uuid NOT NULL,
    id           uuid NOT NULL PRIMARY KEY,
    mediator_id  uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('organization', 'person', 'email_domain')),
    value        text NOT NULL CHECK (length(value) BETWEEN 1 AND 254),
    -- As typed, for display (organisation names keep their capitals).
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 254),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mediator_declarations_member FOREIGN KEY (org_id, mediator_id)
        REFERENCES memberships (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT mediator_declarations_unique UNIQUE (org_id, mediator_id, kind, value)
);

-- The organisation a person is on a case for (a company, an insurer), when
-- there is one: conflicts match on it.
CREATE TABLE party_organizations (
    org_id        uuid NOT NULL,
    party_id      uuid NOT NULL PRIMARY KEY REFERENCES case_parties (id) ON DELETE CASCADE,
    organization  text NOT NULL CHECK (length(organization) BETWEEN 1 AND 200), -- folded
    label         text NOT NULL CHECK (length(label) BETWEEN 1 AND 200)          -- as typed
);

-- An org admin's decision to assign a mediator despite conflicts: the
-- written reason and the conflicts as they were found, kept with the case.
CREATE TABLE conflict_overrides (
    org_id         uuid NOT NULL,
    id             uuid NOT NULL PRIMARY KEY,
    case_id        uuid NOT NULL,
    mediator_id    uuid NOT NULL,
    reason         text NOT NULL CHECK (length(reason) BETWEEN 10 AND 2000),
    conflicts      jsonb NOT NULL,
    overridden_by  uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conflict_overrides_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE,
    -- The mediator cannot be the one who overrides (the API says so first).
    CONSTRAINT conflict_overrides_not_self CHECK (overridden_by <> mediator_id)
);
CREATE INDEX conflict_overrides_case ON conflict_overrides (org_id, case_id, created_at);

-- Every mediator a case has had, so that past cases count in conflict checks
-- after a reassignment (cases.mediator_id names only the current one).
CREATE TABLE mediator_case_history (
    org_id       uuid NOT NULL,
    case_id      uuid NOT NULL,
    mediator_id  uuid NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, mediator_id),
    CONSTRAINT mediator_case_history_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE
);
CREATE INDEX mediator_case_history_mediator ON mediator_case_history (org_id, mediator_id);
-- Conflict checks read this together with cases.mediator_id, so cases
-- assigned before this table existed still count.

-- The org's fee schedule: one currency, an admin fee per case.
CREATE TABLE fee_schedules (
    org_id           uuid PRIMARY KEY REFERENCES organizations (id),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    admin_fee_minor  bigint NOT NULL CHECK (admin_fee_minor BETWEEN 0 AND 1000000000000),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- What each mediator charges: per hour held or a flat amount per session.
CREATE TABLE mediator_rates (
    org_id       uuid NOT NULL,
    mediator_id  uuid NOT NULL,
    basis        text NOT NULL CHECK (basis IN ('hourly', 'per_session')),
    rate_minor   bigint NOT NULL CHECK (rate_minor BETWEEN 0 AND 1000000000000),
    PRIMARY KEY (org_id, mediator_id),
    CONSTRAINT mediator_rates_member FOREIGN KEY (org_id, mediator_id)
        REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);

-- How a case's costs are shared between its parties, in basis points
-- (10000 = all). The API writes a case's split whole and checks the sum.
CREATE TABLE case_fee_splits (
    org_id        uuid NOT NULL,
    case_id       uuid NOT NULL,
    party_id      uuid NOT NULL REFERENCES case_parties (id) ON DELETE CASCADE,
    basis_points  integer NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    PRIMARY KEY (case_id, party_id),
    CONSTRAINT case_fee_splits_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE
);

-- A session that was actually held, with when it began and ended. One row
-- per session; invoices charge these durations, not the scheduled ones.
CREATE TABLE held_sessions (
    org_id       uuid NOT NULL,
    session_id   uuid NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL,
    recorded_by  uuid REFERENCES users (id),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT held_sessions_order CHECK (ended_at > started_at),
    CONSTRAINT held_sessions_length CHECK (ended_at - started_at <= interval '24 hours')
);

-- Gap-free numbering: one counter per org and series, locked by the
-- issuing transaction (UPDATE ... RETURNING), so concurrent issues queue and
-- a rolled-back issue gives its number back.
CREATE TABLE invoice_counters (
    org_id       uuid NOT NULL REFERENCES organizations (id),
    series       text NOT NULL CHECK (series IN ('invoice', 'credit_note')),
    last_number  bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0),
    PRIMARY KEY (org_id, series)
);

-- An invoice for a case (or a credit note refunding one). `number` is given
-- on issue; a draft has none.
CREATE TABLE invoices (
    org_id              uuid NOT NULL,
    id                  uuid NOT NULL PRIMARY KEY,
    case_id             uuid NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    credits_invoice_id  uuid REFERENCES invoices (id),
    status              text NOT NULL CHECK (status IN ('draft', 'issued', 'paid', 'void')),
    number              bigint CHECK (number > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor         bigint NOT NULL CHECK (total_minor >= 0),
    created_by          uuid REFERENCES users (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    issued_at           timestamptz,
    paid_at             timestamptz,
    voided_at           timestamptz,
    CONSTRAINT invoices_case FOREIGN KEY (org_id, case_id) REFERENCES cases (org_id, id),
    CONSTRAINT invoices_number_unique UNIQUE (org_id, kind, number),
    CONSTRAINT invoices_numbered CHECK ((status = 'draft') = (number IS NULL)),
    CONSTRAINT invoices_credit_note CHECK ((kind = 'credit_note') = (credits_invoice_id IS NOT NULL))
);
CREATE INDEX invoices_case ON invoices (org_id, case_id, created_at);
CREATE INDEX invoices_credits ON invoices (credits_invoice_id) WHERE credits_invoice_id IS NOT NULL;

CREATE TABLE invoice_lines (
    org_id        uuid NOT NULL,
    invoice_id    uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position      integer NOT NULL CHECK (position >= 0),
    description   text NOT NULL CHECK (length(description) BETWEEN 1 AND 300),
    minutes       integer CHECK (minutes > 0),
    session_id    uuid,
    amount_minor  bigint NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- Each party's share of an invoice. Party ids are not foreign keys: an
-- issued invoice keeps its shares if a person later leaves the case.
CREATE TABLE invoice_shares (
    org_id        uuid NOT NULL,
    invoice_id    uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    party_id      uuid NOT NULL,
    party_name    text NOT NULL CHECK (length(party_name) BETWEEN 1 AND 200),
    basis_points  integer NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    amount_minor  bigint NOT NULL,
    PRIMARY KEY (invoice_id, party_id)
);
CREATE INDEX invoice_shares_party ON invoice_shares (org_id, party_id);

-- The org's intake form: which catalogue fields it asks, and the dispute
-- type's options. No row means the default form.
CREATE TABLE intake_forms (
    org_id         uuid PRIMARY KEY REFERENCES organizations (id),
    fields         jsonb NOT NULL,
    dispute_types  jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A person's intake answers on a case. Case content: read by the person, the
-- case's mediator and org admins; never logged.
CREATE TABLE intake_responses (
    org_id        uuid NOT NULL,
    party_id      uuid NOT NULL PRIMARY KEY REFERENCES case_parties (id) ON DELETE CASCADE,
    case_id       uuid NOT NULL,
    answers       jsonb NOT NULL,
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT intake_responses_case FOREIGN KEY (org_id, case_id)
        REFERENCES cases (org_id, id) ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'org_workflow_settings', 'mediator_declarations', 'party_organizations',
        'conflict_overrides', 'mediator_case_history', 'fee_schedules', 'mediator_rates', 'case_fee_splits',
        'held_sessions', 'invoice_counters', 'invoices', 'invoice_lines', 'invoice_shares',
        'intake_forms', 'intake_responses'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I USING (org_id = accord_org()) WITH CHECK (org_id = accord_org())',
            t || '_tenant', t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE ON org_workflow_settings, fee_schedules, intake_forms TO accord_app;
GRANT SELECT, INSERT, DELETE ON mediator_declarations TO accord_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON party_organizations, mediator_rates, case_fee_splits,
    intake_responses, held_sessions TO accord_app;
-- Overrides are a record: never changed or removed by the app.
GRANT SELECT, INSERT ON conflict_overrides, mediator_case_history TO accord_app;
GRANT SELECT, INSERT, UPDATE ON invoice_counters TO accord_app;
-- Only drafts are deleted (recomputed); issued invoices change status only.
GRANT SELECT, INSERT, DELETE ON invoices, invoice_lines, invoice_shares TO accord_app;
GRANT UPDATE (status, number, issued_at, paid_at, voided_at) ON invoices TO accord_app;

-- A second line behind the grants: an issued invoice (or credit note) is
-- never deleted, whoever asks.
CREATE FUNCTION accord_invoice_keep_issued() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'issued invoices are never deleted' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER invoices_keep_issued BEFORE DELETE ON invoices
    FOR EACH ROW WHEN (OLD.status <> 'draft') EXECUTE FUNCTION accord_invoice_keep_issued();
