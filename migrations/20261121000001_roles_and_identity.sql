-- Roles, organizations, users and org memberships.
--
-- Tenancy model: every tenant-owned row carries org_id and is guarded by a
-- row-level security policy on the per-transaction setting `accord.org_id`.
-- The server connects as `accord_app`, a role that owns no table and has no
-- BYPASSRLS, so a query that forgets `WHERE org_id = ...` still sees only the
-- current org. Migrations run as the owner; FORCE ROW LEVEL SECURITY makes the
-- policies bind the owner too.
--
-- `accord_lookup` owns the handful of SECURITY DEFINER functions that must run
-- before a tenant is known (sign-in by email, org by slug). It owns no table and
-- the policies let it read only through those functions.

DO $$
BEGIN
    CREATE ROLE accord_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- roles are cluster-wide; another database of this cluster made it already
END
$$;

DO $$
BEGIN
    CREATE ROLE accord_lookup NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The migrating role must be able to hand function ownership to accord_lookup.
GRANT accord_lookup TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO accord_app, accord_lookup;

-- The org of the current transaction, or NULL (which matches no row).
CREATE FUNCTION accord_org() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('accord.org_id', true), '')::uuid $$;

-- The signed-in user of the current transaction, or NULL.
CREATE FUNCTION accord_user() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('accord.user_id', true), '')::uuid $$;

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{0,61}[a-z0-9]$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON organizations
    USING (id = accord_org() OR current_user = 'accord_lookup');
GRANT SELECT ON organizations TO accord_app, accord_lookup;
GRANT UPDATE (name) ON organizations TO accord_app;

-- Accounts are global (one person may work for several providers); what an
-- account may see in an org comes from its membership there.
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    display_name        text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    password_hash       text,                 -- argon2id PHC string; NULL until the setup link is used
    totp_secret         bytea,                -- set once TOTP is confirmed
    totp_pending_secret bytea,                -- between "set up" and "confirm"
    totp_last_step      bigint,               -- last accepted time step, so a code cannot be replayed
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Membership of a user in an org, with the role that drives the permission matrix.
-- The name is the one this org gave the person, and `joined_at` stays NULL until
-- they first sign in to this org: an org that invites an address learns nothing
-- about an account the address may already have elsewhere.
CREATE TABLE memberships (
    org_id        uuid NOT NULL REFERENCES organizations (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    role          text NOT NULL CHECK (role IN ('org_admin', 'mediator', 'party', 'observer')),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    joined_at     timestamptz,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
-- Before an org is chosen (at sign-in) a user may see their own memberships in
-- every org; once a tenant is set, only that org's rows are visible.
CREATE POLICY memberships_read ON memberships FOR SELECT
    USING (
        org_id = accord_org()
        OR (accord_org() IS NULL AND user_id = accord_user())
        OR current_user = 'accord_lookup'
    );
CREATE POLICY memberships_insert ON memberships FOR INSERT WITH CHECK (org_id = accord_org());
CREATE POLICY memberships_update ON memberships FOR UPDATE
    USING (org_id = accord_org()) WITH CHECK (org_id = accord_org());
CREATE POLICY memberships_delete ON memberships FOR DELETE USING (org_id = accord_org());
GRANT SELECT, INSERT, DELETE ON memberships TO accord_app;
GRANT UPDATE (role, display_name, joined_at) ON memberships TO accord_app;
GRANT SELECT ON memberships TO accord_lookup;

-- Users are visible to themselves and to the orgs they are members of.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT
    USING (
        id = accord_user()
        OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id = accord_org())
        OR current_user = 'accord_lookup'
    );
-- Creating an account happens when an org invites someone: a tenant must be set.
CREATE POLICY users_insert ON users FOR INSERT WITH CHECK (accord_org() IS NOT NULL);
-- Only the account itself changes its credentials.
CREATE POLICY users_update ON users FOR UPDATE
    USING (id = accord_user()) WITH CHECK (id = accord_user());
GRANT SELECT, INSERT ON users TO accord_app;
GRANT UPDATE (display_name, password_hash, totp_secret, totp_pending_secret, totp_last_step)
    ON users TO accord_app;
GRANT SELECT (id, email) ON users TO accord_lookup;

-- The only ways to find a row before a tenant is known. Each returns an id and nothing more.
-- Handing a function to accord_lookup needs that role to have CREATE on the
-- schema (PostgreSQL checks it for the new owner); it keeps it only for this.
GRANT CREATE ON SCHEMA public TO accord_lookup;
CREATE FUNCTION accord_lookup_user_by_email(p_email text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id FROM users WHERE email = lower(p_email) $$;
ALTER FUNCTION accord_lookup_user_by_email(text) OWNER TO accord_lookup;
REVOKE ALL ON FUNCTION accord_lookup_user_by_email(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accord_lookup_user_by_email(text) TO accord_app;

CREATE FUNCTION accord_lookup_org_by_slug(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id FROM organizations WHERE slug = p_slug $$;
ALTER FUNCTION accord_lookup_org_by_slug(text) OWNER TO accord_lookup;
REVOKE ALL ON FUNCTION accord_lookup_org_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accord_lookup_org_by_slug(text) TO accord_app;
REVOKE CREATE ON SCHEMA public FROM accord_lookup;
