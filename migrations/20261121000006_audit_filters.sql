-- The audit log is read newest first, filtered by who acted or by what was
-- acted on (`auditEvents(actorUserId:, targetId:)`). Without these a filter
-- for a rare actor or object walks the org's whole chain backwards.
CREATE INDEX audit_events_actor ON audit_events (org_id, actor_user_id, seq DESC)
    WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (org_id, target_id, seq DESC)
    WHERE target_id IS NOT NULL;
