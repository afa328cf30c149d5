-- Durable runs (docs/durable.md): priorities, per-task concurrency, plan escalation,
-- schedules, checkpoints, pauses. Times are Unix epoch seconds (REAL), UTC.

-- Claim order is priority first (higher first), then FIFO.
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- Runs sharing a concurrency key run at most concurrency_limit at a time.
ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
-- An attempt killed for memory is retried on the next plan up.
ALTER TABLE runs ADD COLUMN escalate_plans INTEGER NOT NULL DEFAULT 0;
-- The schedule that started this run (NULL for other runs).
ALTER TABLE runs ADD COLUMN schedule_id TEXT;

-- status first, so the planner picks it for the claim (status = ?) and reads it in order.
CREATE INDEX runs_claim ON runs (status, priority DESC, seq);
CREATE INDEX runs_concurrency ON runs (concurrency_key, status)
    WHERE concurrency_key IS NOT NULL;
CREATE INDEX runs_schedule ON runs (schedule_id, status) WHERE schedule_id IS NOT NULL;

-- Memoized children: a retried parent's call is matched on (parent, call order, task, input).
CREATE INDEX calls_memo ON calls (parent_id, call_index, task_name, input_hash);

-- Small JSON state a run keeps across its attempts (ctx.checkpoint / ctx.restore).
CREATE TABLE checkpoints (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Paused scopes: ('queue', ''), ('task', '<workflow>/<task>'), ('tree', '<root run id>').
CREATE TABLE pauses (
    scope TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (scope, target)
);

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    task_name TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    input TEXT NOT NULL,
    overlap TEXT NOT NULL,
    catchup_s REAL NOT NULL,
    source TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    last_tick_at REAL,
    created_at REAL NOT NULL
);
CREATE INDEX schedules_task ON schedules (workflow, task_name);

-- One row per fired tick: the primary key makes a tick fire once, whatever number of
-- servers evaluate the schedule.
CREATE TABLE schedule_ticks (
    schedule_id TEXT NOT NULL,
    tick_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    run_id TEXT,
    fired_at REAL NOT NULL,
    PRIMARY KEY (schedule_id, tick_at)
)
