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
                let mut q = sqlx::query(sql);
                for a in args {
                    q = match a {
                        $crate::sql::Arg::Text(s) => q.bind(s),
                        $crate::sql::Arg::Real(f) => q.bind(f),
                        $crate::sql::Arg::Int(i) => q.bind(i),
                    };
                }
                let rows = q.fetch_all(&self.pool).await?;
                rows.iter().map(|r| map(r).map_err(Into::into)).collect()
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
                         stderr_bytes, started_at, finished_at, risk, findings, secrets) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                         $18, $19, $20) \
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
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_execution(
                &self,
                tenant: &str,
                id: &str,
            ) -> Result<Option<$crate::ExecutionRecord>, $crate::StoreError> {
                let sql = format!(
                    "SELECT seq, {} FROM executions WHERE tenant = $1 AND id = $2",
                    $crate::sql::EXECUTION_COLUMNS
                );
                let mut v = self
                    .run_select(
                        &sql,
                        vec![
                            $crate::sql::Arg::Text(tenant.to_string()),
                            $crate::sql::Arg::Text(id.to_string()),
                        ],
                        |r| $crate::sql::execution_of(r).map(|(_, e)| e),
                    )
                    .await?;
                Ok(v.pop())
            }

            async fn list_executions(
                &self,
                f: &$crate::ExecutionFilter,
            ) -> Result<$crate::Page<$crate::ExecutionRecord>, $crate::StoreError> {
                use $crate::sql::Arg;
                let mut c = $crate::sql::Conditions::default();
                c.push("tenant", "=", Arg::Text(f.tenant.clone()));
                if let Some(s) = &f.session_id {
                    c.push("session_id", "=", Arg::Text(s.clone()));
                }
                if let Some(s) = &f.status {
                    c.push("status", "=", Arg::Text(s.clone()));
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
        }
    };
}

pub(crate) use impl_store;

/// The columns of an execution record, after `seq`.
pub(crate) const EXECUTION_COLUMNS: &str = "id, tenant, session_id, kind, language, code_sha256, code, status, \
     error_code, exit_code, wall_ms, cpu_ms, peak_memory_bytes, stdout_bytes, stderr_bytes, started_at, finished_at, risk, findings, secrets";

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
