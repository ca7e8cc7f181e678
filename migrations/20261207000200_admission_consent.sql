-- Whether a person on a case who has not signed its agreement to mediate may
-- still join the case's live sessions. On by default (the mediator's console
-- shows who has not signed); an org that turns it off lets only those who
-- signed get a join token.
ALTER TABLE org_workflow_settings
    ADD COLUMN admit_unsigned boolean NOT NULL DEFAULT true;
