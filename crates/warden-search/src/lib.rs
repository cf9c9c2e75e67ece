//! BM25 ranked keyword search over a document collection, held in memory.
//!
//! [`SearchIndex::build`] indexes a set of [`Document`]s with [tantivy] in RAM;
//! [`SearchIndex::search`] ranks them against a free-text query with BM25 (tantivy's
//! default scoring, `k1 = 1.2`, `b = 0.75`).
//!
//! - **Text analysis**: English. Text is split on non-alphanumeric characters, lowercased,
//!   stripped of tokens longer than 40 bytes and stemmed (Snowball English, tantivy's
//!   `en_stem`), so "Sandboxes" matches "sandbox". There is no stop-word list.
//! - **Queries never fail to parse**: a query is not a query language. It goes through
//!   the same analysis as the documents and every resulting term becomes an optional
//!   (`SHOULD`) clause, so quotes, colons, parentheses, `AND`/`OR`/`NOT`, `field:` or
//!   `+`/`-` prefixes are plain words or ignored punctuation. A query with no words (empty,
//!   or only punctuation) matches nothing.
//! - **Deterministic order**: best score first; equal scores are ordered by id ascending,
//!   including at the `top_k` cut-off.
//! - **Duplicate ids**: when `build` is given several documents with the same id, the
//!   last one wins; the earlier ones are not indexed.
//!
//! A [`SearchIndex`] is immutable, `Send` and `Sync`: build it once, share it in an
//! `Arc` and search it from several threads.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::TokenStream;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Score, TantivyDocument, Term};

/// Name of the tantivy tokenizer used for both documents and queries.
const TOKENIZER: &str = "en_stem";
/// Memory budget of the (single) indexing thread; tantivy's minimum is 15 MB.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// A document to index: an id, the text searched, and optional metadata returned with hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// One search result: the document and its BM25 score (higher is better).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    pub text: String,
    pub metadata: Option<serde_json::Value>,
}

/// Errors from building or searching an index. User queries cannot cause one; these are
/// internal tantivy failures (for instance the indexing thread could not start).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// An immutable BM25 index over a set of documents, held in memory.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    text: Field,
    /// The documents, deduplicated by id and sorted by id; the tantivy document for
    /// `docs[i]` carries `i` in the `ord` field.
    docs: Vec<Document>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("documents", &self.docs.len())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Indexes `docs`. Documents with the same id: the last one wins.
    pub fn build(docs: &[Document]) -> Result<SearchIndex, SearchError> {
        Self::build_with(docs, false)
    }

    /// `reverse_insertion` (for tests) adds documents to tantivy in reverse id order, so
    /// that tantivy's own tie-break (by doc address) disagrees with ours.
    fn build_with(docs: &[Document], reverse_insertion: bool) -> Result<SearchIndex, SearchError> {
        // Last wins, then id order: a document's position is its rank among equal scores.
        let docs: Vec<Document> = docs
            .iter()
            .map(|doc| (doc.id.as_str(), doc))
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .cloned()
            .collect();

        let mut schema = Schema::builder();
        let text_options = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                // Term frequencies for BM25; no positions, as there are no phrase queries.
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let text = schema.add_text_field("text", text_options);
        let ord = schema.add_u64_field("ord", FAST);
        let index = Index::create_in_ram(schema.build());

        let mut writer =
            index.writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY_BYTES)?;
        let mut order: Vec<usize> = (0..docs.len()).collect();
        if reverse_insertion {
            order.reverse();
        }
        for i in order {
            let doc = &docs[i];
            let mut tdoc = TantivyDocument::default();
            tdoc.add_text(text, &doc.text);
            tdoc.add_u64(ord, i as u64);
            writer.add_document(tdoc)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;

        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            text,
            docs,
        })
    }

    /// Number of documents indexed (after removing duplicate ids).
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Best first, at most `top_k` (0 → empty). Ties broken by id ascending so results
    /// are deterministic. Any string is a valid query (see the crate docs); one without
    /// words gives no hits.
    pub fn search(&self, query: &str, top_k: usize) -> Result<Vec<Hit>, SearchError> {
        if top_k == 0 || self.docs.is_empty() {
            return Ok(Vec::new());
        }
        let Some(query) = self.build_query(query)? else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();

        // tantivy's own tie-break is by doc address, not id. Fetch one more than needed
        // and widen the window while the last fetched hit ties with the k-th: then every
        // hit left out scores strictly less than the k-th, and sorting what was fetched
        // by (score, id) gives exactly the right top k.
        let mut limit = top_k;
        let scored = loop {
            let fetch = limit.saturating_add(1).min(self.docs.len());
            let found: Vec<(Score, DocAddress)> =
                searcher.search(&query, &TopDocs::with_limit(fetch).order_by_score())?;
            let complete = found.len() < fetch || fetch == self.docs.len();
            let boundary_tie =
                found.len() > top_k && found[top_k - 1].0 == found[found.len() - 1].0;
            if complete || !boundary_tie {
                break found;
            }
            limit = limit.saturating_mul(2);
        };

        let mut hits = Vec::with_capacity(scored.len());
        for (score, address) in scored {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("ord")?;
            let ord = column.first(address.doc_id).ok_or_else(|| {
                tantivy::TantivyError::InternalError("document without an ord".into())
            })?;
            hits.push((score, ord as usize));
        }
        // Position in `docs` is id order (ids are unique there).
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.truncate(top_k);
        Ok(hits
            .into_iter()
            .map(|(score, ord)| {
                let doc = &self.docs[ord];
                Hit {
                    id: doc.id.clone(),
                    score,
                    text: doc.text.clone(),
                    metadata: doc.metadata.clone(),
                }
            })
            .collect())
    }

    /// One optional term clause per distinct analysed word of `query`, or `None` if it
    /// has no words.
    fn build_query(&self, query: &str) -> Result<Option<BooleanQuery>, SearchError> {
        let mut analyzer = self.index.tokenizer_for_field(self.text)?;
        let mut stream = analyzer.token_stream(query);
        let mut seen = HashSet::new();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        while stream.advance() {
            let word = &stream.token().text;
            if word.is_empty() || !seen.insert(word.clone()) {
                continue;
            }
            let term = Term::from_field_text(self.text, word);
            clauses.push((
                Occur::Should,
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            ));
        }
        Ok((!clauses.is_empty()).then(|| BooleanQuery::new(clauses)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SearchIndex>();
    }

    #[test]
    fn ties_by_id_even_when_tantivy_breaks_them_the_other_way() {
        let docs: Vec<Document> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|id| Document {
                id: id.to_string(),
                text: "same words".into(),
                metadata: None,
            })
            .collect();
        let index = SearchIndex::build_with(&docs, true).unwrap();
        let ids = |k| {
            index
                .search("words", k)
                .unwrap()
                .into_iter()
                .map(|h| h.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(7), ["a", "b", "c", "d", "e", "f", "g"]);
        for k in 1..=7 {
            assert_eq!(ids(k), ids(7)[..k], "k={k}");
        }
    }
}
