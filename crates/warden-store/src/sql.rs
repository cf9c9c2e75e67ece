//! The [`Store`](crate::Store) implementation shared by both backends: the SQL is
//! written once, with `$N` parameters in order (PostgreSQL's style, which SQLite accepts
//! as named parameters numbered by first appearance), and the macro instantiates it for
//! each pool type.

/// A bound value of a query built at run time.
pub(crate) enum Arg {
    Text(String),
    Real(f64),
    Int(i64),
}

/// A `WHERE` clause built from optional conditions, numbering parameters in order.
#[derive(Default)]
pub(crate) struct Conditions {
    pub clauses: Vec<String>,
    pub args: Vec<Arg>,
}

impl Conditions {
    /// Adds `column op $N`.
    pub fn push(&mut self, column: &str, op: &str, arg: Arg) {
        self.args.push(arg);
        self.clauses
            .push(format!("{column} {op} ${}", self.args.len()));
    }

    /// Adds `column IN ($N, ...)`; no values gives a condition nothing matches.
    pub fn push_in(&mut self, column: &str, values: Vec<Arg>) {
        if values.is_empty() {
            self.clauses.push("1 = 0".into());
            return;
        }
        let mut slots = Vec::with_capacity(values.len());
        for v in values {
            self.args.push(v);
            slots.push(format!("${}", self.args.len()));
        }
        self.clauses
            .push(format!("{column} IN ({})", slots.join(", ")));
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// Parses a listing cursor (the `seq` of the last item of the previous page).
pub(crate) fn cursor(c: &Option<String>) -> Result<Option<i64>, crate::StoreError> {
    match c {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| crate::StoreError::Invalid(format!("invalid cursor {s:?}"))),
    }
}

/// A page size within 1..=1000 (0 means the default, 100).
pub(crate) fn page_size(limit: u32) -> i64 {
    match limit {
        0 => 100,
        n => i64::from(n.min(1000)),
    }
}

macro_rules! impl_store {
    ($store:ty, $backend:literal) => {
        impl $store {
            async fn run_select<T>(
                &self,
                sql: &str,
                args: Vec<$crate::sql::Arg>,
                map: impl Fn(&<$crate::sql::DbOf<$store> as sqlx::Database>::Row) -> Result<T, sqlx::Error>,
            ) -> Result<Vec<T>, $crate::StoreError> {
                self.run_select_checked(sql, args, |r| map(r).map_err(Into::into)).await
            }

            /// [`run_select`](Self::run_select) for rows whose decoding also checks values
            /// (a BIGINT that must fit a `u64`).
            async fn run_select_checked<T>(
                &self,
                sql: &str,
                args: Vec<$crate::sql::Arg>,
                map: impl Fn(&<$crate::sql::DbOf<$store> as sqlx::Database>::Row) -> Result<T, $crate::StoreError>,
            ) -> Result<Vec<T>, $crate::StoreError> {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = match a {
                        $crate::sql::Arg::Text(s) => q.bind(s),
                        $crate::sql::Arg::Real(f) => q.bind(f),
                        $crate::sql::Arg::Int(i) => q.bind(i),
                    };
                }
                let rows = q.fetch_all(&self.pool).await?;
                rows.iter().map(map).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn upsert_tenant(
                &self,
                name: &str,
                policy: Option<&str>,
            ) -> Result<$crate::Tenant, $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO tenants (name, policy, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET policy = COALESCE(excluded.policy, tenants.policy)",
                )
                .bind(name)
                .bind(policy)
                .bind($crate::now())
                .execute(&self.pool)
                .await?;
                self.get_tenant(name)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Invalid(format!("tenant {name} vanished")))
            }

            async fn get_tenant(&self, name: &str) -> Result<Option<$crate::Tenant>, $crate::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT name, policy, created_at FROM tenants WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(r) => Some($crate::Tenant {
                        name: r.try_get("name")?,
                        policy: r.try_get("policy")?,
                        created_at: r.try_get("created_at")?,
                    }),
                    None => None,
                })
            }

            async fn insert_key(&self, key: &$crate::ApiKey) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant, secret_hash, admin, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&key.id)
                .bind(&key.tenant)
                .bind(&key.secret_hash)
                .bind(key.admin)
                .bind(key.created_at)
                .bind(key.revoked_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_key(&self, id: &str) -> Result<Option<$crate::ApiKey>, $crate::StoreError> {
                let mut keys = self
                    .run_select(
                        "SELECT id, tenant, secret_hash, admin, created_at, revoked_at FROM api_keys WHERE id = $1",
                        vec![$crate::sql::Arg::Text(id.to_string())],
                        $crate::sql::key_of,
                    )
                    .await?;
                Ok(keys.pop())
            }

            async fn get_key_and_policy(
                &self,
                id: &str,
            ) -> Result<Option<($crate::ApiKey, Option<String>)>, $crate::StoreError> {
                let mut keys = self
                    .run_select(
                        "SELECT k.id, k.tenant, k.secret_hash, k.admin, k.created_at, k.revoked_at, \
                         t.policy FROM api_keys k JOIN tenants t ON t.name = k.tenant WHERE k.id = $1",
                        vec![$crate::sql::Arg::Text(id.to_string())],
                        |r| {
                            use sqlx::Row as _;
                            Ok(($crate::sql::key_of(r)?, r.try_get::<Option<String>, _>("policy")?))
                        },
                    )
                    .await?;
                Ok(keys.pop())
            }

            async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<$crate::ApiKey>, $crate::StoreError> {
                let mut c = $crate::sql::Conditions::default();
                if let Some(t) = tenant {
                    c.push("tenant", "=", $crate::sql::Arg::Text(t.to_string()));
                }
                let sql = format!(
                    "SELECT id, tenant, secret_hash, admin, created_at, revoked_at FROM api_keys {} \
                     ORDER BY created_at DESC, id",
                    c.sql()
                );
                self.run_select(&sql, c.args, $crate::sql::key_of).await
            }

            async fn revoke_key(&self, id: &str, at: f64) -> Result<bool, $crate::StoreError> {
                let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_execution(&self, e: &$crate::ExecutionRecord) -> Result<(), $crate::StoreError> {
                self.insert_executions(std::slice::from_ref(e)).await
            }

            async fn insert_executions(
                &self,
                records: &[$crate::ExecutionRecord],
            ) -> Result<(), $crate::StoreError> {
                // One transaction, one commit, for the whole batch.
                let mut tx = self.pool.begin().await?;
                for e in records {
                    sqlx::query(
                        "INSERT INTO executions (id, tenant, session_id, kind, language, code_sha256, code, \
                         status, error_code, exit_code, wall_ms, cpu_ms, peak_memory_bytes, stdout_bytes, \
                         stderr_bytes, started_at, finished_at, risk, findings, secrets, egress, tier) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                         $18, $19, $20, $21, $22) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&e.id)
                    .bind(&e.tenant)
                    .bind(&e.session_id)
                    .bind(&e.kind)
                    .bind(&e.language)
                    .bind(&e.code_sha256)
                    .bind(&e.code)
                    .bind(&e.status)
                    .bind(&e.error_code)
                    .bind(e.exit_code)
                    .bind(e.wall_ms)
                    .bind(e.cpu_ms)
                    .bind(e.peak_memory_bytes)
                    .bind(e.stdout_bytes)
                    .bind(e.stderr_bytes)
                    .bind(e.started_at)
                    .bind(e.finished_at)
                    .bind(e.risk.as_str())
                    .bind($crate::sql::json_unless_empty(&e.findings, e.findings.is_empty()))
                    .bind($crate::sql::json_unless_empty(&e.secrets, e.secrets.is_empty()))
                    .bind($crate::sql::json_unless_empty(&e.egress, e.egress.is_none()))
                    .bind(e.tier.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_execution(
                &self,
                tenant: Option<&str>,
                id: &str,
            ) -> Result<Option<$crate::ExecutionRecord>, $crate::StoreError> {
                use $crate::sql::Arg;
                let mut c = $crate::sql::Conditions::default();
                c.push("id", "=", Arg::Text(id.to_string()));
                if let Some(t) = tenant {
                    c.push("tenant", "=", Arg::Text(t.to_string()));
                }
                let sql = format!(
                    "SELECT seq, {} FROM executions {}",
                    $crate::sql::EXECUTION_COLUMNS,
                    c.sql()
                );
                let mut v = self
                    .run_select(&sql, c.args, |r| {
                        $crate::sql::execution_of(r).map(|(_, e)| e)
                    })
                    .await?;
                Ok(v.pop())
            }

            async fn list_executions(
                &self,
                f: &$crate::ExecutionFilter,
            ) -> Result<$crate::Page<$crate::ExecutionRecord>, $crate::StoreError> {
                use $crate::sql::Arg;
                let mut c = $crate::sql::Conditions::default();
                if let Some(t) = &f.tenant {
                    c.push("tenant", "=", Arg::Text(t.clone()));
                }
                if let Some(s) = &f.session_id {
                    c.push("session_id", "=", Arg::Text(s.clone()));
                }
                if let Some(s) = &f.status {
                    c.push("status", "=", Arg::Text(s.clone()));
                }
                if let Some(min) = f.min_risk {
                    let levels = warden_protocol::RiskLevel::ALL
                        .into_iter()
                        .filter(|r| *r >= min)
                        .map(|r| Arg::Text(r.as_str().to_string()))
                        .collect();
                    c.push_in("risk", levels);
                }
                if let Some(t) = f.since {
                    c.push("started_at", ">=", Arg::Real(t));
                }
                if let Some(t) = f.until {
                    c.push("started_at", "<", Arg::Real(t));
                }
                if let Some(seq) = $crate::sql::cursor(&f.cursor)? {
                    c.push("seq", "<", Arg::Int(seq));
                }
                let limit = $crate::sql::page_size(f.limit);
                let sql = format!(
                    "SELECT seq, {} FROM executions {} ORDER BY seq DESC LIMIT {}",
                    $crate::sql::EXECUTION_COLUMNS,
                    c.sql(),
                    limit + 1
                );
                let rows = self.run_select(&sql, c.args, $crate::sql::execution_of).await?;
                Ok($crate::sql::paginate(rows, limit))
            }

            async fn cpu_seconds_since(&self, tenant: &str, since: f64) -> Result<f64, $crate::StoreError> {
                let v = self
                    .run_select(
                        "SELECT CAST(COALESCE(SUM(cpu_ms), 0) AS DOUBLE PRECISION) AS ms FROM executions \
                         WHERE tenant = $1 AND started_at >= $2",
                        vec![
                            $crate::sql::Arg::Text(tenant.to_string()),
                            $crate::sql::Arg::Real(since),
                        ],
                        |r| {
                            use sqlx::Row as _;
                            r.try_get::<f64, _>("ms")
                        },
                    )
                    .await?;
                Ok(v.first().copied().unwrap_or(0.0) / 1000.0)
            }

            async fn append_audit(&self, e: &$crate::AuditEvent) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO audit (at, action, tenant, key_id, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(e.at)
                .bind(&e.action)
                .bind(&e.tenant)
                .bind(&e.key_id)
                .bind(&e.target)
                .bind(&e.detail)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_audit(
                &self,
                f: &$crate::AuditFilter,
            ) -> Result<$crate::Page<$crate::AuditEvent>, $crate::StoreError> {
                use $crate::sql::Arg;
                let mut c = $crate::sql::Conditions::default();
                if let Some(t) = &f.tenant {
                    c.push("tenant", "=", Arg::Text(t.clone()));
                }
                if let Some(a) = &f.action {
                    c.push("action", "=", Arg::Text(a.clone()));
                }
                if let Some(t) = f.since {
                    c.push("at", ">=", Arg::Real(t));
                }
                if let Some(seq) = $crate::sql::cursor(&f.cursor)? {
                    c.push("seq", "<", Arg::Int(seq));
                }
                let limit = $crate::sql::page_size(f.limit);
                let sql = format!(
                    "SELECT seq, at, action, tenant, key_id, target, detail FROM audit {} ORDER BY seq DESC LIMIT {}",
                    c.sql(),
                    limit + 1
                );
                let rows = self.run_select(&sql, c.args, $crate::sql::audit_of).await?;
                Ok($crate::sql::paginate(rows, limit))
            }

            async fn session_started(&self, s: &$crate::SessionRecord) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (id, node, tenant, language, created_at, ended_at, end_reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&s.id)
                .bind(&s.node)
                .bind(&s.tenant)
                .bind(&s.language)
                .bind(s.created_at)
                .bind(s.ended_at)
                .bind(&s.end_reason)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session_ended(&self, id: &str, reason: &str, at: f64) -> Result<(), $crate::StoreError> {
                sqlx::query("UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
                    .bind(at)
                    .bind(reason)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn get_session(&self, id: &str) -> Result<Option<$crate::SessionRecord>, $crate::StoreError> {
                let mut v = self
                    .run_select(
                        "SELECT id, node, tenant, language, created_at, ended_at, end_reason \
                         FROM sessions WHERE id = $1",
                        vec![$crate::sql::Arg::Text(id.to_string())],
                        |r| {
                            use sqlx::Row as _;
                            Ok($crate::SessionRecord {
                                id: r.try_get("id")?,
                                node: r.try_get("node")?,
                                tenant: r.try_get("tenant")?,
                                language: r.try_get("language")?,
                                created_at: r.try_get("created_at")?,
                                ended_at: r.try_get("ended_at")?,
                                end_reason: r.try_get("end_reason")?,
                            })
                        },
                    )
                    .await?;
                Ok(v.pop())
            }

            async fn end_live_sessions(
                &self,
                node: &str,
                reason: &str,
                at: f64,
            ) -> Result<Vec<String>, $crate::StoreError> {
                self.run_select(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                     WHERE node = $3 AND ended_at IS NULL RETURNING id",
                    vec![
                        $crate::sql::Arg::Real(at),
                        $crate::sql::Arg::Text(reason.to_string()),
                        $crate::sql::Arg::Text(node.to_string()),
                    ],
                    |r| {
                        use sqlx::Row as _;
                        r.try_get::<String, _>("id")
                    },
                )
                .await
            }

            async fn interrupt_runs(
                &self,
                node: &str,
                error: &str,
                at: f64,
            ) -> Result<Vec<String>, $crate::StoreError> {
                self.run_select(
                    "UPDATE workflow_runs SET status = 'error', error = $1, finished_at = $2 \
                     WHERE node = $3 AND status = 'running' RETURNING id",
                    vec![
                        $crate::sql::Arg::Text(error.to_string()),
                        $crate::sql::Arg::Real(at),
                        $crate::sql::Arg::Text(node.to_string()),
                    ],
                    |r| {
                        use sqlx::Row as _;
                        r.try_get::<String, _>("id")
                    },
                )
                .await
            }

            async fn insert_workflow(
                &self,
                tenant: &str,
                id: &str,
                name: &str,
                definition: &str,
                at: f64,
            ) -> Result<$crate::WorkflowRecord, $crate::StoreError> {
                // One statement reads the latest version and inserts the next, atomically.
                // SQLite runs it holding the write lock; on PostgreSQL a concurrent insert
                // of the same id may take that version first (the primary key refuses the
                // second), so a unique violation is retried, reading the new latest.
                let mut attempts = 0;
                loop {
                    let inserted = sqlx::query_scalar::<_, i64>(
                        "INSERT INTO workflows (tenant, id, version, name, definition, created_at) \
                         SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5 FROM workflows \
                         WHERE tenant = $1 AND id = $2 RETURNING version",
                    )
                    .bind(tenant)
                    .bind(id)
                    .bind(name)
                    .bind(definition)
                    .bind(at)
                    .fetch_one(&self.pool)
                    .await;
                    match inserted {
                        Ok(version) => {
                            return Ok($crate::WorkflowRecord {
                                tenant: tenant.to_string(),
                                id: id.to_string(),
                                version: $crate::sql::to_u64(version, "workflow version")?,
                                name: name.to_string(),
                                definition: definition.to_string(),
                                created_at: at,
                            });
                        }
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            attempts += 1;
                            if attempts >= $crate::sql::VERSION_ATTEMPTS {
                                return Err($crate::StoreError::Invalid(format!(
                                    "workflow {id}: no version could be stored after {attempts} \
                                     attempts (too many concurrent writes of the same workflow)"
                                )));
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }

            async fn get_workflow(
                &self,
                tenant: &str,
                id: &str,
                version: Option<u64>,
            ) -> Result<Option<$crate::WorkflowRecord>, $crate::StoreError> {
                use $crate::sql::Arg;
                let mut c = $crate::sql::Conditions::default();
                c.push("tenant", "=", Arg::Text(tenant.to_string()));
                c.push("id", "=", Arg::Text(id.to_string()));
                if let Some(v) = version {
                    c.push("version", "=", Arg::Int($crate::sql::to_i64(v, "workflow version")?));
                }
                let sql = format!(
                    "SELECT tenant, id, version, name, definition, created_at FROM workflows {} \
                     ORDER BY version DESC LIMIT 1",
                    c.sql()
                );
                let mut v = self.run_select_checked(&sql, c.args, $crate::sql::workflow_of).await?;
                Ok(v.pop())
            }

            async fn list_workflows(
                &self,
                tenant: &str,
            ) -> Result<Vec<$crate::WorkflowRecord>, $crate::StoreError> {
                self.run_select_checked(
                    "SELECT tenant, id, version, name, definition, created_at FROM workflows w \
                     WHERE tenant = $1 AND version = \
                     (SELECT MAX(version) FROM workflows l WHERE l.tenant = w.tenant AND l.id = w.id) \
                     ORDER BY id",
                    vec![$crate::sql::Arg::Text(tenant.to_string())],
                    $crate::sql::workflow_of,
                )
                .await
            }

            async fn upsert_run(&self, run: &$crate::RunRecord) -> Result<(), $crate::StoreError> {
                let workflow_version = run
                    .workflow_version
                    .map(|v| $crate::sql::to_i64(v, "workflow version"))
                    .transpose()?;
                // The id is the conflict target, but only a run of the same tenant is
                // replaced: another tenant's run with that id is left as it is.
                let r = sqlx::query(
                    "INSERT INTO workflow_runs (id, tenant, workflow_id, workflow_version, workflow_name, \
                     status, thread_id, input, output, state, trace, error, steps, started_at, finished_at, node) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                     ON CONFLICT (id) DO UPDATE SET workflow_id = excluded.workflow_id, \
                     workflow_version = excluded.workflow_version, workflow_name = excluded.workflow_name, \
                     status = excluded.status, thread_id = excluded.thread_id, input = excluded.input, \
                     output = excluded.output, state = excluded.state, trace = excluded.trace, \
                     error = excluded.error, steps = excluded.steps, started_at = excluded.started_at, \
                     finished_at = excluded.finished_at, node = excluded.node \
                     WHERE workflow_runs.tenant = excluded.tenant",
                )
                .bind(&run.id)
                .bind(&run.tenant)
                .bind(&run.workflow_id)
                .bind(workflow_version)
                .bind(&run.workflow_name)
                .bind(&run.status)
                .bind(&run.thread_id)
                .bind(&run.input)
                .bind(&run.output)
                .bind(&run.state)
                .bind(&run.trace)
                .bind(&run.error)
                .bind($crate::sql::to_i64(run.steps, "run steps")?)
                .bind(run.started_at)
                .bind(run.finished_at)
                .bind(&run.node)
                .execute(&self.pool)
                .await?;
                if r.rows_affected() == 0 {
                    return Err($crate::StoreError::Invalid(format!(
                        "run {} belongs to another tenant",
                        run.id
                    )));
                }
                Ok(())
            }

            async fn get_run(
                &self,
                tenant: &str,
                id: &str,
            ) -> Result<Option<$crate::RunRecord>, $crate::StoreError> {
                let sql = format!(
                    "SELECT seq, {} FROM workflow_runs WHERE tenant = $1 AND id = $2",
                    $crate::sql::RUN_COLUMNS
                );
                let mut v = self
                    .run_select_checked(
                        &sql,
                        vec![
                            $crate::sql::Arg::Text(tenant.to_string()),
                            $crate::sql::Arg::Text(id.to_string()),
                        ],
                        |r| $crate::sql::run_of(r).map(|(_, run)| run),
                    )
                    .await?;
                Ok(v.pop())
            }

            async fn list_runs(
                &self,
                f: &$crate::RunFilter,
            ) -> Result<$crate::Page<$crate::RunRecord>, $crate::StoreError> {
                use $crate::sql::Arg;
                let mut c = $crate::sql::Conditions::default();
                c.push("tenant", "=", Arg::Text(f.tenant.clone()));
                if let Some(w) = &f.workflow_id {
                    c.push("workflow_id", "=", Arg::Text(w.clone()));
                }
                if let Some(s) = &f.status {
                    c.push("status", "=", Arg::Text(s.clone()));
                }
                if let Some(seq) = $crate::sql::cursor(&f.cursor)? {
                    c.push("seq", "<", Arg::Int(seq));
                }
                let limit = $crate::sql::page_size(f.limit);
                let sql = format!(
                    "SELECT seq, {} FROM workflow_runs {} ORDER BY seq DESC LIMIT {}",
                    $crate::sql::RUN_COLUMNS,
                    c.sql(),
                    limit + 1
                );
                let rows = self.run_select_checked(&sql, c.args, $crate::sql::run_of).await?;
                Ok($crate::sql::paginate(rows, limit))
            }

            async fn memory_read(
                &self,
                tenant: &str,
                thread: &str,
                key: &str,
            ) -> Result<Vec<String>, $crate::StoreError> {
                Ok(sqlx::query_scalar::<_, String>(
                    "SELECT value FROM workflow_memory WHERE tenant = $1 AND thread = $2 AND key = $3 \
                     ORDER BY seq",
                )
                .bind(tenant)
                .bind(thread)
                .bind(key)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn memory_append(
                &self,
                tenant: &str,
                thread: &str,
                key: &str,
                value: &str,
                at: f64,
            ) -> Result<Vec<String>, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO workflow_memory (tenant, thread, key, value, at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant)
                .bind(thread)
                .bind(key)
                .bind(value)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let values = sqlx::query_scalar::<_, String>(
                    "SELECT value FROM workflow_memory WHERE tenant = $1 AND thread = $2 AND key = $3 \
                     ORDER BY seq",
                )
                .bind(tenant)
                .bind(thread)
                .bind(key)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(values)
            }

            async fn add_documents(
                &self,
                tenant: &str,
                collection: &str,
                docs: &[$crate::DocumentRecord],
            ) -> Result<u64, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                for d in docs {
                    sqlx::query(
                        "INSERT INTO documents (tenant, collection, id, text, metadata, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (tenant, collection, id) DO UPDATE SET text = excluded.text, \
                         metadata = excluded.metadata, created_at = excluded.created_at",
                    )
                    .bind(tenant)
                    .bind(collection)
                    .bind(&d.id)
                    .bind(&d.text)
                    .bind(&d.metadata)
                    .bind(d.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                let count = sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM documents WHERE tenant = $1 AND collection = $2",
                )
                .bind(tenant)
                .bind(collection)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                $crate::sql::to_u64(count, "document count")
            }

            async fn list_documents(
                &self,
                tenant: &str,
                collection: &str,
            ) -> Result<Vec<$crate::DocumentRecord>, $crate::StoreError> {
                self.run_select(
                    "SELECT id, text, metadata, created_at FROM documents \
                     WHERE tenant = $1 AND collection = $2 ORDER BY id",
                    vec![
                        $crate::sql::Arg::Text(tenant.to_string()),
                        $crate::sql::Arg::Text(collection.to_string()),
                    ],
                    |r| {
                        use sqlx::Row as _;
                        Ok($crate::DocumentRecord {
                            id: r.try_get("id")?,
                            text: r.try_get("text")?,
                            metadata: r.try_get("metadata")?,
                            created_at: r.try_get("created_at")?,
                        })
                    },
                )
                .await
            }

            async fn get_collection(
                &self,
                tenant: &str,
                collection: &str,
            ) -> Result<Option<$crate::CollectionInfo>, $crate::StoreError> {
                // Grouped: no row at all for a collection without documents.
                let sql = format!(
                    "{} WHERE tenant = $1 AND collection = $2 GROUP BY collection",
                    $crate::sql::COLLECTION_SELECT
                );
                let mut v = self
                    .run_select_checked(
                        &sql,
                        vec![
                            $crate::sql::Arg::Text(tenant.to_string()),
                            $crate::sql::Arg::Text(collection.to_string()),
                        ],
                        $crate::sql::collection_of,
                    )
                    .await?;
                Ok(v.pop())
            }

            async fn list_collections(
                &self,
                tenant: &str,
            ) -> Result<Vec<$crate::CollectionInfo>, $crate::StoreError> {
                let sql = format!(
                    "{} WHERE tenant = $1 GROUP BY collection ORDER BY collection",
                    $crate::sql::COLLECTION_SELECT
                );
                self.run_select_checked(
                    &sql,
                    vec![$crate::sql::Arg::Text(tenant.to_string())],
                    $crate::sql::collection_of,
                )
                .await
            }

            async fn delete_collection(
                &self,
                tenant: &str,
                collection: &str,
            ) -> Result<u64, $crate::StoreError> {
                let r = sqlx::query("DELETE FROM documents WHERE tenant = $1 AND collection = $2")
                    .bind(tenant)
                    .bind(collection)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }
        }
    };
}

pub(crate) use impl_store;

/// The columns of an execution record, after `seq`.
pub(crate) const EXECUTION_COLUMNS: &str = "id, tenant, session_id, kind, language, code_sha256, code, status, \
     error_code, exit_code, wall_ms, cpu_ms, peak_memory_bytes, stdout_bytes, stderr_bytes, started_at, finished_at, risk, findings, secrets, egress, tier";

/// The columns of a workflow run, after `seq`.
pub(crate) const RUN_COLUMNS: &str =
    "id, tenant, workflow_id, workflow_version, workflow_name, status, \
     thread_id, input, output, state, trace, error, steps, started_at, finished_at, node";

/// A collection's name, document count and latest write, from `documents` (the caller
/// adds the `WHERE` and `GROUP BY collection`).
pub(crate) const COLLECTION_SELECT: &str = "SELECT collection, COUNT(*) AS documents, \
     CAST(MAX(created_at) AS DOUBLE PRECISION) AS updated_at FROM documents";

/// How many times [`Store::insert_workflow`](crate::Store::insert_workflow) tries to store
/// the next version while concurrent inserts of the same workflow take it first.
pub(crate) const VERSION_ATTEMPTS: u32 = 10;

/// A `u64` for a BIGINT column; above `i64::MAX` it is refused, not wrapped.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, crate::StoreError> {
    i64::try_from(value)
        .map_err(|_| crate::StoreError::Invalid(format!("{what} {value} is too large to store")))
}

/// A BIGINT column back as `u64`; a negative value is refused, not wrapped.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, crate::StoreError> {
    u64::try_from(value)
        .map_err(|_| crate::StoreError::Invalid(format!("stored {what} {value} is negative")))
}

/// JSON text for a column, or NULL for an empty value.
pub(crate) fn json_unless_empty<T: serde::Serialize>(value: &T, empty: bool) -> Option<String> {
    (!empty).then(|| serde_json::to_string(value).unwrap_or_default())
}

/// A JSON column back; NULL or text that no longer parses gives the default.
fn json_or_default<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The database type behind a store, for row types in the macro.
pub(crate) type DbOf<S> = <S as HasDb>::Db;

pub(crate) trait HasDb {
    type Db: sqlx::Database;
}

impl HasDb for crate::SqliteStore {
    type Db = sqlx::Sqlite;
}

impl HasDb for crate::PgStore {
    type Db = sqlx::Postgres;
}

/// Row decoding, generic over both backends.
pub(crate) fn key_of<R: sqlx::Row>(r: &R) -> Result<crate::ApiKey, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(crate::ApiKey {
        id: r.try_get("id")?,
        tenant: r.try_get("tenant")?,
        secret_hash: r.try_get("secret_hash")?,
        admin: r.try_get("admin")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub(crate) fn execution_of<R: sqlx::Row>(
    r: &R,
) -> Result<(i64, crate::ExecutionRecord), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok((
        r.try_get("seq")?,
        crate::ExecutionRecord {
            id: r.try_get("id")?,
            tenant: r.try_get("tenant")?,
            session_id: r.try_get("session_id")?,
            kind: r.try_get("kind")?,
            language: r.try_get("language")?,
            code_sha256: r.try_get("code_sha256")?,
            code: r.try_get("code")?,
            status: r.try_get("status")?,
            error_code: r.try_get("error_code")?,
            exit_code: r.try_get("exit_code")?,
            wall_ms: r.try_get("wall_ms")?,
            cpu_ms: r.try_get("cpu_ms")?,
            peak_memory_bytes: r.try_get("peak_memory_bytes")?,
            stdout_bytes: r.try_get("stdout_bytes")?,
            stderr_bytes: r.try_get("stderr_bytes")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            risk: json_or_default(
                r.try_get::<Option<String>, _>("risk")?
                    .map(|s| format!("\"{s}\"")),
            ),
            findings: json_or_default(r.try_get("findings")?),
            secrets: json_or_default(r.try_get("secrets")?),
            egress: json_or_default(r.try_get("egress")?),
            tier: r
                .try_get::<Option<String>, _>("tier")?
                .and_then(|t| warden_protocol::Tier::parse(&t))
                .unwrap_or_default(),
        },
    ))
}

pub(crate) fn audit_of<R: sqlx::Row>(r: &R) -> Result<(i64, crate::AuditEvent), sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let seq: i64 = r.try_get("seq")?;
    Ok((
        seq,
        crate::AuditEvent {
            seq,
            at: r.try_get("at")?,
            action: r.try_get("action")?,
            tenant: r.try_get("tenant")?,
            key_id: r.try_get("key_id")?,
            target: r.try_get("target")?,
            detail: r.try_get("detail")?,
        },
    ))
}

pub(crate) fn workflow_of<R: sqlx::Row>(r: &R) -> Result<crate::WorkflowRecord, crate::StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(crate::WorkflowRecord {
        tenant: r.try_get("tenant")?,
        id: r.try_get("id")?,
        version: to_u64(r.try_get("version")?, "workflow version")?,
        name: r.try_get("name")?,
        definition: r.try_get("definition")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn run_of<R: sqlx::Row>(r: &R) -> Result<(i64, crate::RunRecord), crate::StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok((
        r.try_get("seq")?,
        crate::RunRecord {
            id: r.try_get("id")?,
            tenant: r.try_get("tenant")?,
            workflow_id: r.try_get("workflow_id")?,
            workflow_version: r
                .try_get::<Option<i64>, _>("workflow_version")?
                .map(|v| to_u64(v, "workflow version"))
                .transpose()?,
            workflow_name: r.try_get("workflow_name")?,
            status: r.try_get("status")?,
            thread_id: r.try_get("thread_id")?,
            input: r.try_get("input")?,
            output: r.try_get("output")?,
            state: r.try_get("state")?,
            trace: r.try_get("trace")?,
            error: r.try_get("error")?,
            steps: to_u64(r.try_get("steps")?, "run steps")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            node: r.try_get("node")?,
        },
    ))
}

pub(crate) fn collection_of<R: sqlx::Row>(r: &R) -> Result<crate::CollectionInfo, crate::StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> f64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(crate::CollectionInfo {
        name: r.try_get("collection")?,
        documents: to_u64(r.try_get("documents")?, "document count")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Cuts `limit + 1` rows to a page and its next cursor.
pub(crate) fn paginate<T>(mut rows: Vec<(i64, T)>, limit: i64) -> crate::Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    crate::Page {
        items: rows.into_iter().map(|(_, t)| t).collect(),
        next,
    }
}
