-- Dashboard: keyset paging (newest first, by seq) and filters that stay fast with a million
-- runs. Time filters are turned into seq bounds through runs_created. The same indexes as
-- sqlite/0003_dashboard.sql, plus runs_id_prefix: run id prefixes are compared byte-wise
-- (COLLATE "C", as SQLite does), whatever the database's collation.
CREATE INDEX runs_created ON runs (created_at);
CREATE INDEX runs_workflow ON runs (workflow, seq);
CREATE INDEX runs_roots ON runs (seq) WHERE parent_id IS NULL;
CREATE INDEX runs_roots_status ON runs (status, seq) WHERE parent_id IS NULL;
CREATE INDEX runs_roots_task ON runs (workflow, task_name, seq) WHERE parent_id IS NULL;
CREATE INDEX runs_roots_workflow ON runs (workflow, seq) WHERE parent_id IS NULL;
CREATE INDEX runs_id_prefix ON runs (id COLLATE "C");
