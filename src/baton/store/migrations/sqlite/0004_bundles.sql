-- Workflow code bundles uploaded by `baton deploy`: immutable tar.gz files addressed by the
-- sha256 of their bytes. A deployed version's code_dir is "bundle:<digest>".
CREATE TABLE bundles (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at REAL NOT NULL
);
