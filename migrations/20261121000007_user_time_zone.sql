-- A person's own time zone (an IANA name such as `Europe/London`), in which
-- the portals show times. NULL until they choose one: the portals then use the
-- browser's. It belongs to the account, not to a membership: the same person
-- sees the same clock in every organization. Only the account itself sets it
-- (the users_update policy); the API checks the name against the tz database.
ALTER TABLE users ADD COLUMN time_zone text CHECK (length(time_zone) BETWEEN 1 AND 64);
GRANT UPDATE (time_zone) ON users TO accord_app;
