-- An agreement's printable form: the PDF its signatories' devices sign the
-- SHA-256 of. It is printed once, when the agreement is sent for signature,
-- and sealed like the text (case content, under a data key of its own that
-- the vault's key service wraps with the context {org, case, agreement});
-- from then on content_sha256 is the SHA-256 of exactly these bytes, and
-- `accord agreement verify` hashes them again. Drafts have no stored PDF.
ALTER TABLE agreements
    ADD COLUMN pdf_key_id text CHECK (length(pdf_key_id) BETWEEN 1 AND 2048),
    ADD COLUMN pdf_wrapped_key bytea CHECK (length(pdf_wrapped_key) BETWEEN 1 AND 6144),
    ADD COLUMN pdf_ciphertext bytea CHECK (length(pdf_ciphertext) BETWEEN 1 AND 8388608),
    -- The three together, and only once sent. NOT VALID: an agreement sent
    -- before PDFs were stored keeps its text hash (verify reports it).
    ADD CONSTRAINT agreements_printed CHECK (
        (pdf_key_id IS NULL) = (pdf_wrapped_key IS NULL)
        AND (pdf_key_id IS NULL) = (pdf_ciphertext IS NULL)
        AND (status = 'draft') = (pdf_ciphertext IS NULL)) NOT VALID;

GRANT UPDATE (pdf_key_id, pdf_wrapped_key, pdf_ciphertext) ON agreements TO accord_app;

-- The lock covers the file too: out for signature, it changes only by being
-- signed; signed, never.
CREATE OR REPLACE FUNCTION accord_agreement_lock() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'agreement % is signed and locked', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_locked';
    END IF;
    IF OLD.status = 'signing' AND (NEW.ciphertext IS DISTINCT FROM OLD.ciphertext
            OR NEW.content_sha256 IS DISTINCT FROM OLD.content_sha256
            OR NEW.version IS DISTINCT FROM OLD.version
            OR NEW.pdf_ciphertext IS DISTINCT FROM OLD.pdf_ciphertext
            OR NEW.pdf_wrapped_key IS DISTINCT FROM OLD.pdf_wrapped_key
            OR NEW.pdf_key_id IS DISTINCT FROM OLD.pdf_key_id) THEN
        RAISE EXCEPTION 'agreement % is out for signature', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_locked';
    END IF;
    RETURN NEW;
END
$$;
