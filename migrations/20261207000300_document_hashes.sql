-- Each document version's SHA-256 of its plaintext, computed while it
-- streamed through the vault: a fingerprint the compliance export lists so
-- that a regulator can match a file handed over separately to the record.
-- It says nothing about the content to anyone without the file. Versions
-- stored before have none. Erasure clears it with the rest of the version.
ALTER TABLE document_versions
    ADD COLUMN sha256 bytea CHECK (length(sha256) = 32);
GRANT UPDATE (sha256) ON document_versions TO accord_app;
