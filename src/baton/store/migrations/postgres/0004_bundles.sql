-- Workflow code bundles uploaded by `baton deploy`: immutable tar.gz files addressed by the
-- sha256 of their bytes. A deployed version's code_dir is "bundle:<digest>".
CREATE TABLE bundles (
    digest text PRIMARY KEY,
    size bigint NOT NULL,
    data bytea NOT NULL,
    created_at double precision NOT NULL
);
