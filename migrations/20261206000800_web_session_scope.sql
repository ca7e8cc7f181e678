-- A signed-in request's transaction setup in one statement: the live web
-- session for a token hash, the account's role in the session's org, and the
-- transaction's tenant settings (SET LOCAL semantics) for that org and user.
--
-- Before, a GraphQL request read its session on one pooled connection, then
-- opened its transaction on another and read the role there: three round trips
-- and two pool checkouts before the first resolver ran. The function runs as
-- `accord_lookup` (which may read memberships before a tenant is set), so the
-- role is read under the same statement that sets the tenant; it returns one
-- row for a live session (role NULL when the membership is gone, and then the
-- settings are left unset) and no row otherwise. Ids only: no content.

GRANT SELECT (id, token_hash, user_id, org_id, expires_at, revoked_at) ON web_sessions TO accord_lookup;

GRANT CREATE ON SCHEMA public TO accord_lookup;
CREATE FUNCTION accord_web_session_scope(p_hash bytea)
    RETURNS TABLE (session_id uuid, user_id uuid, org_id uuid, expires_at timestamptz, role text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    live record;
BEGIN
    SELECT s.id, s.user_id, s.org_id, s.expires_at, m.role
      INTO live
      FROM web_sessions s
      LEFT JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
     WHERE s.token_hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > now();
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF live.role IS NOT NULL THEN
        -- is_local: the settings end with the caller's transaction, as
        -- the plain `SET LOCAL`s of other transactions do.
        PERFORM set_config('accord.org_id', live.org_id::text, true),
                set_config('accord.user_id', live.user_id::text, true);
    END IF;
    session_id := live.id;
    user_id := live.user_id;
    org_id := live.org_id;
    expires_at := live.expires_at;
    role := live.role;
    RETURN NEXT;
END
$$;
ALTER FUNCTION accord_web_session_scope(bytea) OWNER TO accord_lookup;
REVOKE ALL ON FUNCTION accord_web_session_scope(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accord_web_session_scope(bytea) TO accord_app;
REVOKE CREATE ON SCHEMA public FROM accord_lookup;
