-- The clock and the date style mail is written in.
--
-- An organization gets a time zone (an IANA name such as `Europe/Paris`) and a
-- locale (a BCP 47 tag); a person may choose their own of each. Mail about a
-- session gives its date and time in the recipient's zone (their own, else
-- the org's, else the session's) and writes it the way their locale does
-- (their own, else the org's, else British English). NULL means "not chosen".
-- The API checks zone names against the tz database; the locales it knows
-- are listed here too, so a value outside them cannot be stored.

ALTER TABLE organizations
    ADD COLUMN time_zone text CHECK (length(time_zone) BETWEEN 1 AND 64),
    ADD COLUMN locale text CHECK (locale IN ('en-GB', 'en-US', 'fr-FR', 'de-DE'));
GRANT UPDATE (time_zone, locale) ON organizations TO accord_app;

-- Only the account itself sets its locale (the users_update policy), as with
-- its time zone.
ALTER TABLE users ADD COLUMN locale text CHECK (locale IN ('en-GB', 'en-US', 'fr-FR', 'de-DE'));
GRANT UPDATE (locale) ON users TO accord_app;
