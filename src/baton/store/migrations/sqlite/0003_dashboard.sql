-- Dashboard: keyset paging (newest first, by seq) and filters that stay fast with a million
-- runs. Time filters are turned into seq bounds through runs_created.
CREATE INDEX runs_created ON runs (created_at);
CREATE INDEX runs_workflow ON runs (workflow, seq);
CREATE INDEX runs_roots ON runs (seq) WHERE parent_id IS NULL;
CREATE INDEX runs_roots_status ON runs (status, seq) WHERE parent_id IS NULL;
CREATE INDEX runs_roots_task ON runs (workflow, task_name, seq) WHERE parent_id IS NULL;
CREATE INDEX runs_roots_workflow ON runs (workflow, seq) WHERE parent_id IS NULL;
