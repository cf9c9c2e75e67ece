-- warden's schema (SQLite). The PostgreSQL migration creates the same tables.
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    policy TEXT,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants(name),
    secret_hash TEXT NOT NULL,
    admin BOOLEAN NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);

CREATE TABLE executions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    session_id TEXT,
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code TEXT,
    status TEXT NOT NULL,
    error_code TEXT,
    exit_code BIGINT,
    wall_ms DOUBLE PRECISION NOT NULL,
    cpu_ms DOUBLE PRECISION,
    peak_memory_bytes BIGINT,
    stdout_bytes BIGINT NOT NULL,
    stderr_bytes BIGINT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX executions_by_tenant ON executions (tenant, seq);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    action TEXT NOT NULL,
    tenant TEXT,
    key_id TEXT,
    target TEXT,
    detail TEXT
);
-- Append-only: the database itself refuses changes to the log.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    -- The warden node that runs the session (several nodes may share PostgreSQL).
    node TEXT NOT NULL,
    tenant TEXT NOT NULL,
    language TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    end_reason TEXT
);
CREATE INDEX sessions_live ON sessions (node, ended_at);
