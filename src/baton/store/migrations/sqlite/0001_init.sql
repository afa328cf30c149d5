-- Baton schema, SQLite. Times are Unix epoch seconds (REAL), UTC.
CREATE TABLE workflows (
    slug TEXT PRIMARY KEY,
    current_version_id TEXT,
    created_at REAL NOT NULL
);

CREATE TABLE workflow_versions (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL REFERENCES workflows(slug),
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    code_dir TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    created_at REAL NOT NULL
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    version_id TEXT NOT NULL REFERENCES workflow_versions(id),
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (version_id, name)
);

CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    task_name TEXT NOT NULL,
    version_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    parent_id TEXT,
    root_id TEXT NOT NULL,
    parent_attempt INTEGER,
    retry TEXT NOT NULL,
    timeout_s INTEGER NOT NULL,
    plan TEXT NOT NULL,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    not_before REAL,
    output TEXT,
    error TEXT,
    error_type TEXT,
    traceback TEXT
);
-- FIFO scan of the queue in seq order; not_before (retry backoff) is checked in the scan.
CREATE INDEX runs_pending ON runs (seq, not_before) WHERE status = 'pending';
CREATE INDEX runs_root ON runs (root_id, seq);
CREATE INDEX runs_parent ON runs (parent_id, seq);
CREATE INDEX runs_task ON runs (workflow, task_name, seq);
CREATE INDEX runs_status ON runs (status, seq);
CREATE INDEX runs_idempotency ON runs (workflow, idempotency_key, created_at)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE attempts (
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    worker_id TEXT,
    lease_expires_at REAL,
    waiting INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    plan TEXT,
    started_at REAL NOT NULL,
    completed_at REAL,
    error TEXT,
    error_type TEXT,
    traceback TEXT,
    output TEXT,
    exit_code INTEGER,
    peak_rss_kb INTEGER,
    cpu_s REAL,
    timings TEXT,
    PRIMARY KEY (run_id, attempt)
);
CREATE INDEX attempts_running ON attempts (status, waiting) WHERE status = 'running';
CREATE INDEX attempts_worker ON attempts (worker_id) WHERE status = 'running';

-- One row per chained call: the child a parent attempt started for it.
CREATE TABLE calls (
    parent_id TEXT NOT NULL,
    parent_attempt INTEGER NOT NULL,
    call_index INTEGER NOT NULL,
    task_name TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    idempotency_key TEXT,
    created_key TEXT,
    child_id TEXT NOT NULL,
    PRIMARY KEY (parent_id, parent_attempt, call_index)
);
CREATE UNIQUE INDEX calls_dedupe ON calls (parent_id, idempotency_key, created_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    stream TEXT NOT NULL,
    at REAL NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX logs_run ON logs (run_id, seq);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
