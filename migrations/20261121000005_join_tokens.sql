-- Spent join tokens.
--
-- A join token lets one device into one live session once. Every SFU node
-- spends a token's jti here before admitting the device, so a token replayed to
-- any node, at any time before it expires, is refused. Rows outlive their token
-- by a little and are then deleted; they hold identifiers only.

CREATE TABLE spent_join_tokens (
    jti         uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX spent_join_tokens_expiry ON spent_join_tokens (expires_at);
-- Spending happens before a tenant context exists on the SFU connection; the
-- table holds ids only and is reachable by its primary key.
GRANT SELECT, INSERT, DELETE ON spent_join_tokens TO accord_app;
