-- Whether people whose browser cannot encrypt media end to end may still
-- join the org's live sessions: the session then runs protected hop by hop
-- only (DTLS-SRTP to the SFU), marked so on every participant's screen. Off
-- by default: end-to-end encryption is the product's promise.
ALTER TABLE org_workflow_settings
    ADD COLUMN allow_hop_by_hop boolean NOT NULL DEFAULT false;
