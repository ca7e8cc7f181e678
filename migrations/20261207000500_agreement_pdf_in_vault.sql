-- An agreement's PDF lives in the vault's object store, like documents: the
-- object (encrypted under a data key of its own, wrapped by the vault's key
-- service with the context {org, case, agreement}) at pdf_object_key, its
-- plaintext length in pdf_size, the wrapped key in pdf_key_id and
-- pdf_wrapped_key as before. pdf_ciphertext stays for agreements sent while
-- the PDF was kept in this row; no new row uses it.
ALTER TABLE agreements
    ADD COLUMN pdf_object_key text CHECK (length(pdf_object_key) BETWEEN 1 AND 512),
    ADD COLUMN pdf_size bigint CHECK (pdf_size > 0);

ALTER TABLE agreements DROP CONSTRAINT agreements_printed;
-- A sent agreement has a key and exactly one of an object or a row copy; a
-- draft has none. NOT VALID as before: an agreement sent before PDFs were
-- stored keeps its text hash (verify reports it).
ALTER TABLE agreements ADD CONSTRAINT agreements_printed CHECK (
        (pdf_key_id IS NULL) = (pdf_wrapped_key IS NULL)
        AND (pdf_object_key IS NULL) = (pdf_size IS NULL)
        AND NOT (pdf_object_key IS NOT NULL AND pdf_ciphertext IS NOT NULL)
        AND (pdf_key_id IS NULL) = (pdf_object_key IS NULL AND pdf_ciphertext IS NULL)
        AND (status = 'draft') = (pdf_key_id IS NULL)) NOT VALID;

GRANT UPDATE (pdf_object_key, pdf_size) ON agreements TO accord_app;

-- The lock covers where the file is too.
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
            OR NEW.pdf_key_id IS DISTINCT FROM OLD.pdf_key_id
            OR NEW.pdf_object_key IS DISTINCT FROM OLD.pdf_object_key
            OR NEW.pdf_size IS DISTINCT FROM OLD.pdf_size) THEN
        RAISE EXCEPTION 'agreement % is out for signature', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'agreement_locked';
    END IF;
    RETURN NEW;
END
$$;
