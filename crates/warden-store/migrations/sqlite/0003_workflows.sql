-- Workflows (issue 8): stored definitions (one row per version), runs, the memory of
-- conversation threads, and document collections. The PostgreSQL migration creates the
-- same tables. Like executions, rows name their tenant without a foreign key.
CREATE TABLE workflows (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    -- The definition as JSON text.
    definition TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, id, version)
);

CREATE TABLE workflow_runs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    -- NULL for a run of an inline definition.
    workflow_id TEXT,
    workflow_version BIGINT,
    workflow_name TEXT NOT NULL,
    status TEXT NOT NULL,
    thread_id TEXT,
    -- JSON texts.
    input TEXT NOT NULL,
    output TEXT,
    state TEXT,
    trace TEXT,
    error TEXT,
    steps BIGINT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    -- The node that runs it (runs still `running` when their node restarts were cut
    -- short by a crash).
    node TEXT NOT NULL
);
CREATE INDEX workflow_runs_by_tenant ON workflow_runs (tenant, seq);
CREATE INDEX workflow_runs_running ON workflow_runs (node, status);

-- Append-only lists of JSON values per (tenant, thread, key), in `seq` order.
CREATE TABLE workflow_memory (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    thread TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX workflow_memory_by_key ON workflow_memory (tenant, thread, key, seq);

-- A collection exists while it has documents.
CREATE TABLE documents (
    tenant TEXT NOT NULL,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    -- JSON text.
    metadata TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, collection, id)
);
