//! The storage suite, run against every backend: SQLite always, PostgreSQL when
//! `WARDEN_TEST_POSTGRES_URL` names a server (CI starts one; in CI its absence fails).

use std::sync::Arc;

use warden_store::{
    ApiKey, AuditEvent, AuditFilter, ExecutionFilter, ExecutionRecord, SessionRecord, Store,
};

/// Each test gets a fresh database: a new SQLite file, or a new PostgreSQL database.
struct Fresh {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    Fresh {
        store: warden_store::open(&url).await.unwrap(),
        url,
        _dir: Some(dir),
    }
}

fn postgres_url() -> Option<String> {
    match std::env::var("WARDEN_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the storage suite against PostgreSQL: set WARDEN_TEST_POSTGRES_URL"
            );
            eprintln!("WARDEN_TEST_POSTGRES_URL is not set: PostgreSQL backend not tested");
            None
        }
    }
}

async fn postgres() -> Option<Fresh> {
    let admin = postgres_url()?;
    let name = format!(
        "warden_test_{}_{}",
        std::process::id(),
        warden_store::now().to_bits() % 1_000_000_007
    );
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    Some(Fresh {
        store: warden_store::open(&url).await.unwrap(),
        url,
        _dir: None,
    })
}

/// Runs a suite function against each backend.
macro_rules! each_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let f = super::sqlite().await;
                assert_eq!(f.store.backend(), "sqlite");
                super::$name(&f).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(f) = super::postgres().await {
                    assert_eq!(f.store.backend(), "postgres");
                    super::$name(&f).await;
                }
            }
        }
    };
}

fn key(id: &str, tenant: &str, at: f64) -> ApiKey {
    ApiKey {
        id: id.into(),
        tenant: tenant.into(),
        secret_hash: format!("hash-of-{id}"),
        admin: false,
        created_at: at,
        revoked_at: None,
    }
}

fn execution(n: u32, tenant: &str, session: Option<&str>, status: &str) -> ExecutionRecord {
    ExecutionRecord {
        // Every third ran on gVisor, so that the tier round-trips.
        tier: if n.is_multiple_of(3) {
            warden_protocol::Tier::Gvisor
        } else {
            warden_protocol::Tier::Namespaces
        },
        id: format!("exe_{tenant}_{n:04}"),
        tenant: tenant.into(),
        session_id: session.map(str::to_string),
        kind: if session.is_some() { "cell" } else { "oneshot" }.into(),
        language: "python".into(),
        code_sha256: format!("{n:064x}"),
        code: Some(format!("print({n})")),
        status: status.into(),
        error_code: (status != "ok").then(|| "TIMEOUT".to_string()),
        exit_code: Some(i64::from(n % 3)),
        wall_ms: 1.5 + f64::from(n),
        cpu_ms: Some(100.0),
        peak_memory_bytes: Some(1 << 20),
        stdout_bytes: i64::from(n),
        stderr_bytes: 0,
        started_at: 1000.0 + f64::from(n),
        finished_at: 1000.5 + f64::from(n),
        // Every other record carries analysis findings and secret counts, so both the
        // JSON columns and their NULL (empty) form round-trip.
        risk: if n % 2 == 1 {
            warden_protocol::RiskLevel::Medium
        } else {
            warden_protocol::RiskLevel::None
        },
        findings: if n % 2 == 1 {
            vec![warden_protocol::Finding {
                rule: "import.process".into(),
                severity: warden_protocol::Severity::Medium,
                line: n,
                col: 1,
                message: "imports subprocess".into(),
            }]
        } else {
            Vec::new()
        },
        secrets: if n % 2 == 1 {
            [("openai_key".to_string(), u64::from(n))].into()
        } else {
            Default::default()
        },
        egress: (n % 2 == 1).then(|| warden_protocol::EgressReport {
            allow: vec!["api.test".into()],
            connections: vec![warden_protocol::EgressConnection {
                host: "api.test".into(),
                port: 443,
                decision: "allowed".into(),
                reason: None,
                address: Some("203.0.113.7:443".into()),
                bytes_in: u64::from(n) * 10,
                bytes_out: 5,
            }],
            allowed: 1,
            bytes_in: u64::from(n) * 10,
            bytes_out: 5,
            ..Default::default()
        }),
    }
}

async fn tenants_and_keys(f: &Fresh) {
    let s = &f.store;
    let t = s.upsert_tenant("acme", None).await.unwrap();
    assert_eq!(t.name, "acme");
    assert_eq!(t.policy, None);
    let t = s
        .upsert_tenant("acme", Some(r#"{"max_timeout": 5}"#))
        .await
        .unwrap();
    assert_eq!(t.policy.as_deref(), Some(r#"{"max_timeout": 5}"#));
    // Upserting without a policy keeps the one set.
    let t = s.upsert_tenant("acme", None).await.unwrap();
    assert_eq!(t.policy.as_deref(), Some(r#"{"max_timeout": 5}"#));
    assert!(s.get_tenant("nobody").await.unwrap().is_none());

    s.upsert_tenant("other", None).await.unwrap();
    s.insert_key(&key("wk_a1", "acme", 1.0)).await.unwrap();
    let mut admin = key("wk_a2", "acme", 2.0);
    admin.admin = true;
    s.insert_key(&admin).await.unwrap();
    s.insert_key(&key("wk_o1", "other", 3.0)).await.unwrap();
    assert_eq!(s.get_key("wk_a2").await.unwrap(), Some(admin));
    assert!(s.get_key("wk_none").await.unwrap().is_none());
    let (k, policy) = s.get_key_and_policy("wk_a1").await.unwrap().unwrap();
    assert_eq!(
        (k.id.as_str(), policy.as_deref()),
        ("wk_a1", Some(r#"{"max_timeout": 5}"#))
    );
    let (_, policy) = s.get_key_and_policy("wk_o1").await.unwrap().unwrap();
    assert_eq!(policy, None);
    assert!(s.get_key_and_policy("wk_none").await.unwrap().is_none());
    let ids: Vec<String> = s
        .list_keys(Some("acme"))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["wk_a2", "wk_a1"], "newest first, one tenant");
    assert_eq!(s.list_keys(None).await.unwrap().len(), 3);
    assert!(s.revoke_key("wk_a1", 9.0).await.unwrap());
    assert!(!s.revoke_key("wk_a1", 10.0).await.unwrap(), "revoked once");
    assert!(!s.revoke_key("wk_none", 10.0).await.unwrap());
    assert_eq!(
        s.get_key("wk_a1").await.unwrap().unwrap().revoked_at,
        Some(9.0)
    );
    // A key must belong to a tenant that exists.
    assert!(s.insert_key(&key("wk_x", "ghost", 1.0)).await.is_err());
    // Key ids are unique.
    assert!(s.insert_key(&key("wk_o1", "other", 4.0)).await.is_err());
}
each_backend!(tenants_and_keys);

async fn execution_records(f: &Fresh) {
    let s = &f.store;
    for n in 0..25 {
        let status = if n % 5 == 0 { "timeout" } else { "ok" };
        let session = (n % 2 == 0).then_some("ses_1");
        s.insert_execution(&execution(n, "acme", session, status))
            .await
            .unwrap();
    }
    s.insert_execution(&execution(0, "other", None, "ok"))
        .await
        .unwrap();
    // A record already stored is skipped, not duplicated or changed (a journal replayed
    // after a crash writes a batch again); the rest of the batch goes in.
    s.insert_execution(&execution(3, "dup", None, "ok"))
        .await
        .unwrap();
    let batch = [
        execution(100, "dup", None, "ok"),
        execution(3, "dup", None, "error"),
    ];
    s.insert_executions(&batch).await.unwrap();
    s.insert_executions(&batch).await.unwrap();
    let dup = s
        .list_executions(&ExecutionFilter {
            tenant: Some("dup".into()),
            limit: 10,
            ..ExecutionFilter::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = dup.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["exe_dup_0100", "exe_dup_0003"]);
    assert_eq!(dup.items[1], execution(3, "dup", None, "ok"));
    let batch = [
        execution(101, "zed", None, "ok"),
        execution(102, "zed", None, "ok"),
    ];
    s.insert_executions(&batch).await.unwrap();
    assert!(s
        .get_execution(Some("zed"), "exe_zed_0102")
        .await
        .unwrap()
        .is_some());
    // Read back exactly, and only by its own tenant.
    let e = s
        .get_execution(Some("acme"), "exe_acme_0007")
        .await
        .unwrap();
    assert_eq!(e, Some(execution(7, "acme", None, "ok")));
    assert!(s
        .get_execution(Some("other"), "exe_acme_0007")
        .await
        .unwrap()
        .is_none());
    // The same id twice is stored once.
    s.insert_execution(&execution(7, "acme", None, "ok"))
        .await
        .unwrap();

    // Pagination: newest first, no duplicates, nothing skipped.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_executions(&ExecutionFilter {
                tenant: Some("acme".into()),
                cursor: cursor.clone(),
                limit: 10,
                ..ExecutionFilter::default()
            })
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|e| e.id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).rev().map(|n| format!("exe_acme_{n:04}")).collect();
    assert_eq!(seen, expected);

    let filtered = |filter: ExecutionFilter| {
        let s = s.clone();
        async move {
            s.list_executions(&ExecutionFilter {
                tenant: Some("acme".into()),
                limit: 100,
                ..filter
            })
            .await
            .unwrap()
            .items
            .len()
        }
    };
    let by_status = filtered(ExecutionFilter {
        status: Some("timeout".into()),
        ..ExecutionFilter::default()
    })
    .await;
    assert_eq!(by_status, 5);
    let by_session = filtered(ExecutionFilter {
        session_id: Some("ses_1".into()),
        ..ExecutionFilter::default()
    })
    .await;
    assert_eq!(by_session, 13);
    let by_time = filtered(ExecutionFilter {
        since: Some(1010.0),
        until: Some(1020.0),
        ..ExecutionFilter::default()
    })
    .await;
    assert_eq!(by_time, 10);
    // Risk at or above a level: the odd records are medium, the even ones none.
    for (min, n) in [
        (warden_protocol::RiskLevel::None, 25),
        (warden_protocol::RiskLevel::Low, 12),
        (warden_protocol::RiskLevel::Medium, 12),
        (warden_protocol::RiskLevel::High, 0),
    ] {
        let got = filtered(ExecutionFilter {
            min_risk: Some(min),
            ..ExecutionFilter::default()
        })
        .await;
        assert_eq!(got, n, "at least {min:?}");
    }
    // No tenant: every tenant's records; a record by id alone.
    let everyone = s
        .list_executions(&ExecutionFilter {
            limit: 1000,
            ..ExecutionFilter::default()
        })
        .await
        .unwrap();
    let tenants: std::collections::BTreeSet<&str> =
        everyone.items.iter().map(|e| e.tenant.as_str()).collect();
    assert!(
        tenants.contains("acme") && tenants.contains("dup") && tenants.contains("zed"),
        "{tenants:?}"
    );
    assert_eq!(
        s.get_execution(None, "exe_zed_0101").await.unwrap(),
        Some(execution(101, "zed", None, "ok"))
    );
    assert!(s
        .list_executions(&ExecutionFilter {
            tenant: Some("acme".into()),
            cursor: Some("not-a-cursor".into()),
            ..ExecutionFilter::default()
        })
        .await
        .is_err());
    // 100 ms of CPU each.
    let cpu = s.cpu_seconds_since("acme", 1020.0).await.unwrap();
    assert!((cpu - 0.5).abs() < 1e-9, "{cpu}");
    assert_eq!(s.cpu_seconds_since("nobody", 0.0).await.unwrap(), 0.0);
}
each_backend!(execution_records);

async fn the_audit_log_is_append_only(f: &Fresh) {
    let s = &f.store;
    for (i, action) in ["auth.failed", "key.created", "session.created"]
        .iter()
        .enumerate()
    {
        s.append_audit(&AuditEvent {
            seq: 0,
            at: 100.0 + i as f64,
            action: action.to_string(),
            tenant: (i > 0).then(|| "acme".to_string()),
            key_id: None,
            target: Some(format!("t{i}")),
            detail: Some(r#"{"why":"test"}"#.into()),
        })
        .await
        .unwrap();
    }
    let page = s
        .list_audit(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["session.created", "key.created"]);
    assert!(page.items[0].seq > page.items[1].seq);
    let rest = s
        .list_audit(&AuditFilter {
            cursor: page.next,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].action, "auth.failed");
    assert_eq!(rest.next, None);
    let acme = s
        .list_audit(&AuditFilter {
            tenant: Some("acme".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(acme.items.len(), 2);
    // The database itself refuses to change or delete entries.
    let refused = if f.url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&f.url).await.unwrap();
        let u = sqlx::query("UPDATE audit SET action = 'x'")
            .execute(&pool)
            .await;
        let d = sqlx::query("DELETE FROM audit").execute(&pool).await;
        (u.is_err(), d.is_err())
    } else {
        let pool = sqlx::PgPool::connect(&f.url).await.unwrap();
        let u = sqlx::query("UPDATE audit SET action = 'x'")
            .execute(&pool)
            .await;
        let d = sqlx::query("DELETE FROM audit").execute(&pool).await;
        (u.is_err(), d.is_err())
    };
    assert_eq!(refused, (true, true));
    assert_eq!(
        s.list_audit(&AuditFilter::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
}
each_backend!(the_audit_log_is_append_only);

async fn live_sessions_are_ended_after_a_crash(f: &Fresh) {
    let s = &f.store;
    for (id, node) in [
        ("ses_a", "n1"),
        ("ses_b", "n1"),
        ("ses_c", "n1"),
        ("ses_d", "n2"),
    ] {
        s.session_started(&SessionRecord {
            id: id.into(),
            node: node.into(),
            tenant: "acme".into(),
            language: "python".into(),
            created_at: 1.0,
            ended_at: None,
            end_reason: None,
        })
        .await
        .unwrap();
    }
    s.session_ended("ses_b", "deleted", 2.0).await.unwrap();
    // Ending twice keeps the first reason.
    s.session_ended("ses_b", "expired", 3.0).await.unwrap();
    let mut ended = s
        .end_live_sessions("n1", "server_restart", 4.0)
        .await
        .unwrap();
    ended.sort();
    assert_eq!(ended, ["ses_a", "ses_c"], "only this node's live sessions");
    let b = s.get_session("ses_b").await.unwrap().unwrap();
    assert_eq!(
        (b.ended_at, b.end_reason.as_deref()),
        (Some(2.0), Some("deleted"))
    );
    let a = s.get_session("ses_a").await.unwrap().unwrap();
    assert_eq!(a.end_reason.as_deref(), Some("server_restart"));
    let d = s.get_session("ses_d").await.unwrap().unwrap();
    assert_eq!(d.ended_at, None, "another node's session stays live");
    assert!(s.get_session("ses_zz").await.unwrap().is_none());
    assert!(s
        .end_live_sessions("n1", "server_restart", 5.0)
        .await
        .unwrap()
        .is_empty());
}
each_backend!(live_sessions_are_ended_after_a_crash);

async fn data_survives_reopening(f: &Fresh) {
    f.store.upsert_tenant("acme", None).await.unwrap();
    f.store
        .insert_execution(&execution(1, "acme", None, "ok"))
        .await
        .unwrap();
    // Opening again runs the migrations again (a no-op) and sees the same data.
    let again = warden_store::open(&f.url).await.unwrap();
    assert!(again
        .get_execution(Some("acme"), "exe_acme_0001")
        .await
        .unwrap()
        .is_some());
    assert!(warden_store::open("mysql://x").await.is_err());
}
each_backend!(data_survives_reopening);

// After `each_backend!`, which the module uses.
mod workflows;

/// How long one execution record takes to write (run by hand:
/// `cargo test --release -p warden-store --test it write_latency -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn write_latency() {
    let f = sqlite().await;
    let n = 500;
    let mut total = std::time::Duration::ZERO;
    for i in 0..n {
        // Paced, as requests arrive: the database's threads are idle in between.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let t = std::time::Instant::now();
        f.store
            .insert_execution(&execution(i, "acme", Some("ses_1"), "ok"))
            .await
            .unwrap();
        total += t.elapsed();
    }
    eprintln!(
        "{:.1} us per record",
        total.as_secs_f64() * 1e6 / f64::from(n)
    );
}
