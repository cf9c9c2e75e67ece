use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use warden_search::{Document, SearchIndex};

fn doc(id: &str, text: &str) -> Document {
    Document {
        id: id.to_string(),
        text: text.to_string(),
        metadata: None,
    }
}

fn ids(hits: &[warden_search::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

fn corpus() -> Vec<Document> {
    vec![
        doc(
            "dense",
            "The sandbox isolates code. Every sandbox has limits.",
        ),
        doc(
            "sparse",
            "This long note about deployment, logging, metrics, configuration, retries, \
             queues, caches, databases and monitoring mentions a sandbox only once, in passing.",
        ),
        doc(
            "other",
            "Python and JavaScript interpreters run untrusted snippets.",
        ),
    ]
}

#[test]
fn denser_mention_ranks_first() {
    let index = SearchIndex::build(&corpus()).unwrap();
    let hits = index.search("sandbox", 10).unwrap();
    assert_eq!(ids(&hits), ["dense", "sparse"]);
    assert!(hits[0].score > hits[1].score, "{hits:?}");
    assert!(hits.iter().all(|h| h.score > 0.0));
}

#[test]
fn more_query_terms_matched_ranks_first() {
    let index = SearchIndex::build(&corpus()).unwrap();
    let hits = index.search("untrusted python sandbox", 10).unwrap();
    assert_eq!(hits[0].id, "other");
    assert_eq!(hits.len(), 3);
}

#[test]
fn stemming_and_lowercasing() {
    let index = SearchIndex::build(&[
        doc("a", "Each sandbox runs one job."),
        doc("b", "Nothing relevant here."),
    ])
    .unwrap();
    assert_eq!(ids(&index.search("sandboxes", 10).unwrap()), ["a"]);
    assert_eq!(ids(&index.search("SANDBOXES", 10).unwrap()), ["a"]);
    assert_eq!(ids(&index.search("running jobs", 10).unwrap()), ["a"]);
}

#[test]
fn top_k_bounds_the_results() {
    let docs: Vec<Document> = (0..20)
        .map(|i| doc(&format!("d{i:02}"), &format!("sandbox number {i}")))
        .collect();
    let index = SearchIndex::build(&docs).unwrap();
    assert_eq!(index.search("sandbox", 5).unwrap().len(), 5);
    assert_eq!(index.search("sandbox", 1).unwrap().len(), 1);
    assert_eq!(index.search("sandbox", 100).unwrap().len(), 20);
    assert!(index.search("sandbox", 0).unwrap().is_empty());
}

#[test]
fn no_match_is_empty() {
    let index = SearchIndex::build(&corpus()).unwrap();
    assert!(index.search("kubernetes", 10).unwrap().is_empty());
}

#[test]
fn empty_or_punctuation_only_query_is_empty() {
    let index = SearchIndex::build(&corpus()).unwrap();
    for query in ["", "   ", "?!", "\"\" () : -- + * ~ ^ [] {}", "\n\t"] {
        assert!(index.search(query, 10).unwrap().is_empty(), "{query:?}");
    }
}

#[test]
fn hostile_query_is_plain_words() {
    let index = SearchIndex::build(&[
        doc("sandbox", "What is a sandbox?"),
        doc("and", "Salt and pepper."),
        doc("none", "Completely unrelated prose."),
    ])
    .unwrap();
    let hits = index.search(r#"what's a "sandbox"? (AND:"#, 10).unwrap();
    // "and" is a plain word (not an operator) and "what", "a", "sandbox" match doc one.
    assert_eq!(ids(&hits), ["sandbox", "and"]);

    for query in [
        "text:sandbox",
        "id:sandbox",
        "sandbox AND NOT pepper",
        "-sandbox",
        "+sandbox",
        "\"what is\"",
        "sandbox~2",
        "sand*",
        "(((",
        ")",
        "[a TO z]",
        "sandbox^10",
        "\\",
        "IN [sandbox]",
    ] {
        let hits = index
            .search(query, 10)
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
        // Query-language operators would change these results; as plain words they do not.
        match query {
            "text:sandbox" | "id:sandbox" | "-sandbox" | "+sandbox" | "sandbox~2"
            | "sandbox^10" | "IN [sandbox]" => {
                assert_eq!(ids(&hits), ["sandbox"], "{query:?}");
            }
            "sandbox AND NOT pepper" => {
                // Two words of "and" ("and", "pepper") against one of "sandbox".
                assert_eq!(ids(&hits), ["and", "sandbox"], "{query:?}");
            }
            _ => {}
        }
    }
}

#[test]
fn ties_are_broken_by_id_ascending() {
    // Same text, so same score; inserted in an order that is not id order.
    let names = ["m", "c", "x", "a", "q", "b", "z", "k"];
    let mut docs: Vec<Document> = names.iter().map(|n| doc(n, "shared words")).collect();
    docs.push(doc("best", "shared shared"));
    let index = SearchIndex::build(&docs).unwrap();

    let all = index.search("shared", 100).unwrap();
    assert_eq!(ids(&all), ["best", "a", "b", "c", "k", "m", "q", "x", "z"]);
    // The cut-off keeps the smallest ids among the tied, whatever top_k is.
    for k in 1..=all.len() {
        assert_eq!(
            ids(&index.search("shared", k).unwrap()),
            ids(&all[..k]),
            "k={k}"
        );
    }
    // And the same on every run.
    let again = SearchIndex::build(&docs).unwrap();
    assert_eq!(
        again.search("shared", 4).unwrap(),
        index.search("shared", 4).unwrap()
    );
}

#[test]
fn metadata_and_text_round_trip() {
    let meta = json!({"source": "docs/intro.md", "line": 12, "tags": ["a", "b"], "x": null});
    let index = SearchIndex::build(&[
        Document {
            id: "with".into(),
            text: "Sandbox intro.".into(),
            metadata: Some(meta.clone()),
        },
        doc("without", "Another sandbox page."),
    ])
    .unwrap();
    let hits = index.search("sandbox", 10).unwrap();
    let with = hits.iter().find(|h| h.id == "with").unwrap();
    assert_eq!(with.metadata, Some(meta));
    assert_eq!(with.text, "Sandbox intro.");
    let without = hits.iter().find(|h| h.id == "without").unwrap();
    assert_eq!(without.metadata, None);

    let value = serde_json::to_value(with).unwrap();
    assert_eq!(value["id"], "with");
    assert_eq!(value["metadata"]["tags"][1], "b");
}

#[test]
fn duplicate_ids_last_wins() {
    let index = SearchIndex::build(&[
        doc("same", "old text about apples"),
        doc("other", "pears"),
        doc("same", "new text about oranges"),
    ])
    .unwrap();
    assert_eq!(index.len(), 2);
    assert!(index.search("apples", 10).unwrap().is_empty());
    let hits = index.search("oranges", 10).unwrap();
    assert_eq!(ids(&hits), ["same"]);
    assert_eq!(hits[0].text, "new text about oranges");
}

#[test]
fn empty_collection() {
    let index = SearchIndex::build(&[]).unwrap();
    assert!(index.is_empty());
    assert_eq!(index.len(), 0);
    assert!(index.search("anything", 10).unwrap().is_empty());
}

#[test]
fn thousand_documents_build_and_search() {
    const WORDS: [&str; 12] = [
        "sandbox", "python", "limit", "memory", "network", "file", "process", "timeout", "kernel",
        "seccomp", "output", "cache",
    ];
    let docs: Vec<Document> = (0..1000usize)
        .map(|i| {
            let text: Vec<&str> = (0..(5 + i % 30))
                .map(|j| WORDS[(i * 7 + j * 3 + j * j) % WORDS.len()])
                .collect();
            Document {
                id: format!("doc-{i:04}"),
                text: text.join(" "),
                metadata: Some(json!({ "n": i })),
            }
        })
        .collect();

    let start = Instant::now();
    let index = SearchIndex::build(&docs).unwrap();
    let built = start.elapsed();
    let hits = index.search("sandbox timeouts in the kernel", 10).unwrap();
    let total = start.elapsed();
    println!("1,000 docs: build {built:?}, build + search {total:?}");
    assert!(total < Duration::from_secs(5), "{total:?}");

    assert_eq!(index.len(), 1000);
    assert_eq!(hits.len(), 10);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    for hit in &hits {
        let n = hit.metadata.as_ref().unwrap()["n"].as_u64().unwrap() as usize;
        assert_eq!(hit.id, format!("doc-{n:04}"));
        assert_eq!(hit.text, docs[n].text);
    }

    // Shared between threads: same answers everywhere.
    let index = Arc::new(index);
    let expected = index.search("memory network", 25).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || index.search("memory network", 25).unwrap())
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), expected);
    }
}
