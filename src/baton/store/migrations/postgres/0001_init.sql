-- Baton schema, PostgreSQL: the same tables and columns as sqlite/0001_init.sql.
-- Times are Unix epoch seconds (double precision), UTC, exactly as on SQLite, so every
-- backend compares and stores the instants the engine passes in (an injected clock included).
-- JSON stays in text columns, decoded by store/rows.py for both backends.
CREATE TABLE workflows (
    slug text PRIMARY KEY,
    current_version_id text,
    created_at double precision NOT NULL
);

CREATE TABLE workflow_versions (
    id text PRIMARY KEY,
    workflow text NOT NULL REFERENCES workflows(slug),
    target text NOT NULL,
    kind text NOT NULL,
    code_dir text NOT NULL,
    status text NOT NULL,
    error text,
    created_at double precision NOT NULL
);

CREATE TABLE tasks (
    id text PRIMARY KEY,
    workflow text NOT NULL,
    version_id text NOT NULL REFERENCES workflow_versions(id),
    name text NOT NULL,
    definition text NOT NULL,
    created_at double precision NOT NULL,
    UNIQUE (version_id, name)
);

CREATE TABLE runs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    task_id text NOT NULL,
    workflow text NOT NULL,
    task_name text NOT NULL,
    version_id text NOT NULL,
    status text NOT NULL,
    input text NOT NULL,
    parent_id text,
    root_id text NOT NULL,
    parent_attempt integer,
    retry text NOT NULL,
    timeout_s integer NOT NULL,
    plan text NOT NULL,
    attempt_count integer NOT NULL DEFAULT 0,
    idempotency_key text,
    created_at double precision NOT NULL,
    started_at double precision,
    completed_at double precision,
    not_before double precision,
    output text,
    error text,
    error_type text,
    traceback text
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
    run_id text NOT NULL,
    attempt integer NOT NULL,
    status text NOT NULL,
    worker_id text,
    lease_expires_at double precision,
    waiting integer NOT NULL DEFAULT 0,
    pid integer,
    plan text,
    started_at double precision NOT NULL,
    completed_at double precision,
    error text,
    error_type text,
    traceback text,
    output text,
    exit_code integer,
    peak_rss_kb bigint,
    cpu_s double precision,
    timings text,
    PRIMARY KEY (run_id, attempt)
);
CREATE INDEX attempts_running ON attempts (status, waiting) WHERE status = 'running';
CREATE INDEX attempts_worker ON attempts (worker_id) WHERE status = 'running';

-- One row per chained call: the child a parent attempt started for it.
CREATE TABLE calls (
    parent_id text NOT NULL,
    parent_attempt integer NOT NULL,
    call_index integer NOT NULL,
    task_name text NOT NULL,
    input_hash text NOT NULL,
    idempotency_key text,
    created_key text,
    child_id text NOT NULL,
    PRIMARY KEY (parent_id, parent_attempt, call_index)
);
CREATE UNIQUE INDEX calls_dedupe ON calls (parent_id, idempotency_key, created_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE logs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id text NOT NULL,
    attempt integer NOT NULL,
    stream text NOT NULL,
    at double precision NOT NULL,
    line text NOT NULL
);
CREATE INDEX logs_run ON logs (run_id, seq);

CREATE TABLE api_tokens (
    id text PRIMARY KEY,
    name text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at double precision NOT NULL
);
