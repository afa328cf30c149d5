-- Durable runs (docs/durable.md): priorities, per-task concurrency, plan escalation,
-- schedules, checkpoints, pauses. The same tables and columns as sqlite/0002_durable.sql.
-- Times are Unix epoch seconds (double precision), UTC.

-- Claim order is priority first (higher first), then FIFO.
ALTER TABLE runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
-- Runs sharing a concurrency key run at most concurrency_limit at a time.
ALTER TABLE runs ADD COLUMN concurrency_key text;
ALTER TABLE runs ADD COLUMN concurrency_limit integer;
-- An attempt killed for memory is retried on the next plan up.
ALTER TABLE runs ADD COLUMN escalate_plans integer NOT NULL DEFAULT 0;
-- The schedule that started this run (NULL for other runs).
ALTER TABLE runs ADD COLUMN schedule_id text;

-- The claim scan: pending runs in claim order (priority DESC, seq).
CREATE INDEX runs_claim ON runs (priority DESC, seq) WHERE status = 'pending';
-- The running runs of one concurrency key, counted by every claim.
CREATE INDEX runs_concurrency ON runs (concurrency_key)
    WHERE concurrency_key IS NOT NULL AND status = 'running';
CREATE INDEX runs_schedule ON runs (schedule_id, status) WHERE schedule_id IS NOT NULL;

-- Memoized children: a retried parent's call is matched on (parent, call order, task, input).
CREATE INDEX calls_memo ON calls (parent_id, call_index, task_name, input_hash);

-- Small JSON state a run keeps across its attempts (ctx.checkpoint / ctx.restore).
CREATE TABLE checkpoints (
    run_id text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    attempt integer NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Paused scopes: ('queue', ''), ('task', '<workflow>/<task>'), ('tree', '<root run id>').
CREATE TABLE pauses (
    scope text NOT NULL,
    target text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (scope, target)
);

CREATE TABLE schedules (
    id text PRIMARY KEY,
    workflow text NOT NULL,
    task_name text NOT NULL,
    cron text NOT NULL,
    timezone text NOT NULL,
    input text NOT NULL,
    overlap text NOT NULL,
    catchup_s double precision NOT NULL,
    source text NOT NULL,
    paused integer NOT NULL DEFAULT 0,
    last_tick_at double precision,
    created_at double precision NOT NULL
);
CREATE INDEX schedules_task ON schedules (workflow, task_name);

-- One row per fired tick: the primary key makes a tick fire once, whatever number of
-- servers evaluate the schedule.
CREATE TABLE schedule_ticks (
    schedule_id text NOT NULL,
    tick_at double precision NOT NULL,
    outcome text NOT NULL,
    run_id text,
    fired_at double precision NOT NULL,
    PRIMARY KEY (schedule_id, tick_at)
);
