//! Workflow data, on every backend: versioned definitions, runs, the memory of
//! conversation threads, and document collections.

use std::sync::Arc;

use warden_store::{DocumentRecord, RunFilter, RunRecord, StoreError};

use crate::{postgres, sqlite, Fresh};

async fn workflows_are_versioned_per_tenant(f: &Fresh) {
    let s = &f.store;
    // Stored out of id order: listings are ordered by id.
    let b1 = s
        .insert_workflow("acme", "wf_b", "B", r#"{"nodes":[]}"#, 1.0)
        .await
        .unwrap();
    assert_eq!(b1.version, 1);
    let a1 = s
        .insert_workflow("acme", "wf_a", "A", r#"{"v":1}"#, 2.0)
        .await
        .unwrap();
    let a2 = s
        .insert_workflow("acme", "wf_a", "A renamed", r#"{"v":2}"#, 3.0)
        .await
        .unwrap();
    assert_eq!((a1.version, a2.version), (1, 2));
    assert_eq!(
        a2,
        warden_store::WorkflowRecord {
            tenant: "acme".into(),
            id: "wf_a".into(),
            version: 2,
            name: "A renamed".into(),
            definition: r#"{"v":2}"#.into(),
            created_at: 3.0,
        }
    );
    // Versions are counted per tenant.
    let other = s
        .insert_workflow("other", "wf_a", "theirs", "{}", 4.0)
        .await
        .unwrap();
    assert_eq!(other.version, 1);

    // The latest, or an exact version; read back exactly.
    assert_eq!(
        s.get_workflow("acme", "wf_a", None).await.unwrap(),
        Some(a2.clone())
    );
    assert_eq!(
        s.get_workflow("acme", "wf_a", Some(1)).await.unwrap(),
        Some(a1)
    );
    assert_eq!(
        s.get_workflow("acme", "wf_a", Some(2)).await.unwrap(),
        Some(a2.clone())
    );
    assert!(s
        .get_workflow("acme", "wf_a", Some(3))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_workflow("acme", "wf_zz", None)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_workflow("other", "wf_b", None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        s.get_workflow("other", "wf_a", None).await.unwrap(),
        Some(other.clone())
    );
    // A version beyond what a BIGINT holds is refused, not wrapped.
    assert!(matches!(
        s.get_workflow("acme", "wf_a", Some(u64::MAX)).await,
        Err(StoreError::Invalid(_))
    ));

    // The latest version of each id, ordered by id, of one tenant.
    assert_eq!(s.list_workflows("acme").await.unwrap(), [a2, b1]);
    assert_eq!(s.list_workflows("other").await.unwrap(), [other]);
    assert!(s.list_workflows("nobody").await.unwrap().is_empty());

    // Concurrent inserts of the same id get distinct, consecutive versions.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                s.insert_workflow("acme", "wf_c", "C", &format!(r#"{{"i":{i}}}"#), 10.0)
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
    let latest = s.get_workflow("acme", "wf_c", None).await.unwrap().unwrap();
    assert_eq!(latest.version, 8);
}
each_backend!(workflows_are_versioned_per_tenant);

fn run(n: u32, tenant: &str, workflow: Option<&str>, status: &str) -> RunRecord {
    let finished = status != "running";
    RunRecord {
        id: format!("run_{tenant}_{n:04}"),
        tenant: tenant.into(),
        workflow_id: workflow.map(str::to_string),
        workflow_version: workflow.map(|_| u64::from(n % 3 + 1)),
        workflow_name: workflow.unwrap_or("inline").into(),
        status: status.into(),
        thread_id: (n % 2 == 1).then(|| format!("thr_{n}")),
        input: format!(r#"{{"n":{n}}}"#),
        output: finished.then(|| format!(r#"{{"out":{n}}}"#)),
        state: finished.then(|| r#"{"x":1}"#.to_string()),
        trace: finished.then(|| r#"[{"node":"start"}]"#.to_string()),
        error: (status == "error").then(|| r#"{"code":"STEP_LIMIT"}"#.to_string()),
        steps: u64::from(n) * 2,
        started_at: 100.0 + f64::from(n),
        finished_at: finished.then_some(200.0 + f64::from(n)),
        node: if n % 2 == 1 { "n2" } else { "n1" }.into(),
    }
}

async fn runs_are_upserted_listed_and_isolated(f: &Fresh) {
    let s = &f.store;
    // A run is written when it starts, then replaced, every field, when it finishes.
    let started = run(7, "acme", Some("wf_a"), "running");
    s.upsert_run(&started).await.unwrap();
    assert_eq!(
        s.get_run("acme", "run_acme_0007").await.unwrap(),
        Some(started)
    );
    let mut finished = run(7, "acme", None, "error");
    finished.workflow_name = "renamed".into();
    finished.thread_id = None;
    s.upsert_run(&finished).await.unwrap();
    assert_eq!(
        s.get_run("acme", "run_acme_0007").await.unwrap(),
        Some(finished.clone())
    );

    // Only the run's own tenant reads it or writes it.
    assert!(s.get_run("other", "run_acme_0007").await.unwrap().is_none());
    let mut theirs = finished.clone();
    theirs.tenant = "other".into();
    theirs.status = "ok".into();
    assert!(matches!(
        s.upsert_run(&theirs).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        s.get_run("acme", "run_acme_0007").await.unwrap(),
        Some(finished)
    );
    assert!(s.get_run("acme", "run_none").await.unwrap().is_none());
    // Counts beyond what a BIGINT holds are refused, not wrapped.
    let mut huge = run(99, "acme", Some("wf_a"), "ok");
    huge.steps = u64::MAX;
    assert!(matches!(
        s.upsert_run(&huge).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(s.get_run("acme", "run_acme_0099").await.unwrap().is_none());

    for n in (0..25).filter(|n| *n != 7) {
        let workflow = match n % 3 {
            0 => Some("wf_a"),
            1 => Some("wf_b"),
            _ => None,
        };
        let status = if n % 5 == 0 { "error" } else { "ok" };
        s.upsert_run(&run(n, "acme", workflow, status))
            .await
            .unwrap();
    }
    s.upsert_run(&run(0, "other", Some("wf_a"), "ok"))
        .await
        .unwrap();
    // Finishing an older run does not move it: runs are listed by when first written.
    s.upsert_run(&run(3, "acme", Some("wf_a"), "error"))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_runs(&RunFilter {
                tenant: "acme".into(),
                cursor: cursor.clone(),
                limit: 10,
                ..RunFilter::default()
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        seen.extend(page.items.into_iter().map(|r| r.id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = (0..25)
        .rev()
        .filter(|n| *n != 7)
        .map(|n| format!("run_acme_{n:04}"))
        .collect();
    expected.push("run_acme_0007".into());
    assert_eq!(
        seen, expected,
        "newest first, no duplicates, nothing skipped"
    );

    let listed = |filter: RunFilter| {
        let s = Arc::clone(s);
        async move {
            s.list_runs(&RunFilter {
                tenant: "acme".into(),
                limit: 100,
                ..filter
            })
            .await
            .unwrap()
            .items
        }
    };
    // wf_a: n % 3 == 0 (0, 3, ..., 24: 9 runs) and run 3 again (not duplicated).
    let by_workflow = listed(RunFilter {
        workflow_id: Some("wf_a".into()),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(by_workflow.len(), 9);
    assert!(by_workflow
        .iter()
        .all(|r| r.workflow_id.as_deref() == Some("wf_a")));
    // error: n % 5 == 0 (0, 5, 10, 15, 20), run 7 and run 3.
    let by_status = listed(RunFilter {
        status: Some("error".into()),
        ..RunFilter::default()
    })
    .await;
    assert_eq!(by_status.len(), 7);
    let both = listed(RunFilter {
        workflow_id: Some("wf_a".into()),
        status: Some("error".into()),
        ..RunFilter::default()
    })
    .await;
    let ids: Vec<&str> = both.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["run_acme_0015", "run_acme_0003", "run_acme_0000"]);
    assert_eq!(both[1], run(3, "acme", Some("wf_a"), "error"));
    let theirs = s
        .list_runs(&RunFilter {
            tenant: "other".into(),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(theirs.items, [run(0, "other", Some("wf_a"), "ok")]);
    assert_eq!(theirs.next, None);
    assert!(s
        .list_runs(&RunFilter {
            tenant: "acme".into(),
            cursor: Some("not-a-cursor".into()),
            ..RunFilter::default()
        })
        .await
        .is_err());
}
each_backend!(runs_are_upserted_listed_and_isolated);

async fn running_runs_of_a_node_are_interrupted(f: &Fresh) {
    let s = &f.store;
    // Runs 2 and 4 on n1, 3 on n2 are running; 6 on n1 has finished.
    for (n, status) in [(2, "running"), (3, "running"), (4, "running"), (6, "ok")] {
        s.upsert_run(&run(n, "acme", None, status)).await.unwrap();
    }
    let mut ids = s
        .interrupt_runs("n1", r#"{"code":"INTERRUPTED"}"#, 999.0)
        .await
        .unwrap();
    ids.sort();
    assert_eq!(ids, ["run_acme_0002", "run_acme_0004"]);
    let cut = s.get_run("acme", "run_acme_0002").await.unwrap().unwrap();
    assert_eq!(cut.status, "error");
    assert_eq!(cut.error.as_deref(), Some(r#"{"code":"INTERRUPTED"}"#));
    assert_eq!(cut.finished_at, Some(999.0));
    let other = s.get_run("acme", "run_acme_0003").await.unwrap().unwrap();
    assert_eq!(other.status, "running", "another node's run is left alone");
    let done = s.get_run("acme", "run_acme_0006").await.unwrap().unwrap();
    assert_eq!(done.status, "ok");
    assert!(s
        .interrupt_runs("n1", "{}", 1000.0)
        .await
        .unwrap()
        .is_empty());
}
each_backend!(running_runs_of_a_node_are_interrupted);

async fn memory_is_appended_in_order_and_isolated(f: &Fresh) {
    let s = &f.store;
    assert!(s
        .memory_read("acme", "t1", "chat")
        .await
        .unwrap()
        .is_empty());
    let after = s
        .memory_append("acme", "t1", "chat", r#""a""#, 1.0)
        .await
        .unwrap();
    assert_eq!(after, [r#""a""#]);
    s.memory_append("acme", "t1", "chat", r#"{"b":2}"#, 2.0)
        .await
        .unwrap();
    let after = s
        .memory_append("acme", "t1", "chat", "3", 3.0)
        .await
        .unwrap();
    assert_eq!(after, [r#""a""#, r#"{"b":2}"#, "3"]);
    // Each (tenant, thread, key) is its own list.
    s.memory_append("other", "t1", "chat", r#""x""#, 4.0)
        .await
        .unwrap();
    s.memory_append("acme", "t2", "chat", r#""y""#, 5.0)
        .await
        .unwrap();
    s.memory_append("acme", "t1", "notes", r#""z""#, 6.0)
        .await
        .unwrap();
    assert_eq!(
        s.memory_read("acme", "t1", "chat").await.unwrap(),
        [r#""a""#, r#"{"b":2}"#, "3"]
    );
    assert_eq!(
        s.memory_read("other", "t1", "chat").await.unwrap(),
        [r#""x""#]
    );
    assert_eq!(
        s.memory_read("acme", "t2", "chat").await.unwrap(),
        [r#""y""#]
    );
    assert_eq!(
        s.memory_read("acme", "t1", "notes").await.unwrap(),
        [r#""z""#]
    );
    assert!(s
        .memory_read("acme", "t3", "chat")
        .await
        .unwrap()
        .is_empty());

    // Concurrent appends are all kept; each sees the list with its own value in it.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(s);
            tokio::spawn(async move {
                let value = i.to_string();
                let list = s
                    .memory_append("acme", "t9", "k", &value, 10.0)
                    .await
                    .unwrap();
                assert!(list.contains(&value));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut all = s.memory_read("acme", "t9", "k").await.unwrap();
    all.sort();
    assert_eq!(all, ["0", "1", "2", "3", "4", "5", "6", "7"]);
}
each_backend!(memory_is_appended_in_order_and_isolated);

fn doc(id: &str, text: &str, at: f64) -> DocumentRecord {
    DocumentRecord {
        id: id.into(),
        text: text.into(),
        metadata: (id != "d2").then(|| format!(r#"{{"source":"{id}"}}"#)),
        created_at: at,
    }
}

async fn document_collections(f: &Fresh) {
    let s = &f.store;
    assert!(s.get_collection("acme", "notes").await.unwrap().is_none());
    assert_eq!(s.add_documents("acme", "notes", &[]).await.unwrap(), 0);
    assert!(
        s.get_collection("acme", "notes").await.unwrap().is_none(),
        "no documents"
    );

    let first = [
        doc("d3", "three", 1.0),
        doc("d1", "one", 2.0),
        doc("d2", "two", 3.0),
    ];
    assert_eq!(s.add_documents("acme", "notes", &first).await.unwrap(), 3);
    // The same id replaces the document.
    let second = [doc("d1", "one, again", 5.0), doc("d4", "four", 4.0)];
    assert_eq!(s.add_documents("acme", "notes", &second).await.unwrap(), 4);
    assert_eq!(
        s.list_documents("acme", "notes").await.unwrap(),
        [
            doc("d1", "one, again", 5.0),
            doc("d2", "two", 3.0),
            doc("d3", "three", 1.0),
            doc("d4", "four", 4.0)
        ]
    );
    let info = s.get_collection("acme", "notes").await.unwrap().unwrap();
    assert_eq!(
        (info.name.as_str(), info.documents, info.updated_at),
        ("notes", 4, 5.0)
    );

    // Collections are per tenant, listed by name.
    assert_eq!(
        s.add_documents("acme", "faq", &[doc("q1", "why?", 7.0)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.add_documents("other", "notes", &[doc("d1", "theirs", 8.0)])
            .await
            .unwrap(),
        1
    );
    let names: Vec<(String, u64)> = s
        .list_collections("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.documents))
        .collect();
    assert_eq!(names, [("faq".to_string(), 1), ("notes".to_string(), 4)]);
    assert_eq!(
        s.list_documents("other", "notes").await.unwrap(),
        [doc("d1", "theirs", 8.0)]
    );
    assert!(s
        .list_documents("acme", "nothing")
        .await
        .unwrap()
        .is_empty());
    assert!(s.list_collections("nobody").await.unwrap().is_empty());

    // Deleting removes the collection (it exists while it has documents), of one tenant.
    assert_eq!(s.delete_collection("acme", "notes").await.unwrap(), 4);
    assert!(s.get_collection("acme", "notes").await.unwrap().is_none());
    assert!(s.list_documents("acme", "notes").await.unwrap().is_empty());
    let left: Vec<String> = s
        .list_collections("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(left, ["faq"]);
    assert_eq!(s.delete_collection("acme", "notes").await.unwrap(), 0);
    let theirs = s.get_collection("other", "notes").await.unwrap().unwrap();
    assert_eq!((theirs.documents, theirs.updated_at), (1, 8.0));
}
each_backend!(document_collections);
