//! Execution records, written with group commit: concurrent executions hand their
//! records to one writer, which commits whatever has gathered in one transaction and then
//! acknowledges each. Every caller still waits for its own record's commit before it
//! replies; under load one commit serves many records.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use warden_store::{ExecutionRecord, Store, StoreError};

/// Most records committed together.
const MAX_BATCH: usize = 256;

type Ack = oneshot::Sender<Result<(), String>>;

/// The handle executions write their records through.
pub struct RecordWriter {
    tx: mpsc::UnboundedSender<(ExecutionRecord, Ack)>,
}

impl RecordWriter {
    /// Starts the writer task (needs a tokio runtime).
    pub fn spawn(store: Arc<dyn Store>) -> RecordWriter {
        let (tx, mut rx) = mpsc::unbounded_channel::<(ExecutionRecord, Ack)>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                let (records, acks): (Vec<ExecutionRecord>, Vec<Ack>) = batch.into_iter().unzip();
                let result = store
                    .insert_executions(&records)
                    .await
                    .map_err(|e| e.to_string());
                for ack in acks {
                    let _ = ack.send(result.clone());
                }
            }
        });
        RecordWriter { tx }
    }

    /// Writes one record; returns once it is committed.
    pub async fn write(&self, record: ExecutionRecord) -> Result<(), StoreError> {
        let (ack, committed) = oneshot::channel();
        self.tx
            .send((record, ack))
            .map_err(|_| StoreError::Invalid("the record writer has stopped".into()))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Invalid(format!(
                "cannot store the execution record: {message}"
            ))),
            Err(_) => Err(StoreError::Invalid("the record writer has stopped".into())),
        }
    }
}
