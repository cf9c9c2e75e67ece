//! Workflow code nodes in sandboxes: the engine's [`CodeRunner`] for warden-flow's runner.
//! All code nodes of one run share one session per language and network (so earlier
//! imports stay warm); the sessions are closed when the runner is dropped. A node with
//! `network: true` gets a session with egress (its own per allowlist), under the tenant's
//! policy like any session.
//!
//! A node's code runs as one cell, between a prologue that binds the node's input
//! (`input_data` in Python, `input` in JavaScript) and an epilogue that writes its result
//! as JSON to a file of the session's workspace, which the engine then reads: the result
//! never travels through stdout, which belongs to the code.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use serde_json::Value;
use warden_flow::definition::CodeLanguage;
use warden_flow::{CodeOutcome, CodeRequest, CodeRunner, NodeError};
use warden_protocol::{CreateSession, ExecuteRequest, Language};

use crate::error::DeathReason;
use crate::manager::Engine;
use crate::tenancy::Caller;
use crate::EngineError;

/// Where the epilogue leaves a node's result, relative to `/workspace`.
const RESULT_FILE: &str = ".warden-flow-result.json";
/// The largest result read back.
const RESULT_LIMIT: u64 = 16 << 20;

/// Runs code nodes as cells of per-run sessions. Its methods block: call the workflow
/// runner from a blocking thread (`tokio::task::spawn_blocking`), not from async code.
pub struct SessionCodeRunner {
    engine: Arc<Engine>,
    caller: Caller,
    runtime: tokio::runtime::Handle,
    sessions: HashMap<SessionKey, String>,
}

/// The sessions of a run, by language and network (`None`: none; else the node's
/// narrower allowlist, or the policy's when it names none).
type SessionKey = (Language, Option<Option<Vec<String>>>);

fn key(language: Language, request: &CodeRequest<'_>) -> SessionKey {
    let network = request
        .network
        .then(|| request.egress_allow.map(<[String]>::to_vec));
    (language, network)
}

impl SessionCodeRunner {
    pub fn new(engine: Arc<Engine>, caller: Caller, runtime: tokio::runtime::Handle) -> Self {
        SessionCodeRunner {
            engine,
            caller,
            runtime,
            sessions: HashMap::new(),
        }
    }

    fn session(
        &mut self,
        language: Language,
        request: &CodeRequest<'_>,
    ) -> Result<String, EngineError> {
        let key = key(language, request);
        if let Some(id) = self.sessions.get(&key) {
            return Ok(id.clone());
        }
        let create = CreateSession {
            language,
            template: request.template.map(str::to_string),
            network: request.network.then_some(true),
            egress: request
                .egress_allow
                .map(|allow| warden_protocol::EgressRequest {
                    allow: Some(allow.to_vec()),
                }),
            ..CreateSession::default()
        };
        let info = self
            .runtime
            .block_on(self.engine.create_session(&self.caller, create))?;
        self.sessions.insert(key, info.id.clone());
        Ok(info.id)
    }

    fn attempt(&mut self, request: &CodeRequest<'_>) -> Result<CodeOutcome, NodeError> {
        let language = match request.language {
            CodeLanguage::Python => Language::Python,
            CodeLanguage::Javascript => Language::Javascript,
        };
        let id = self.session(language, request).map_err(engine_error)?;
        let screened = screened(language, request.code);
        let execute = ExecuteRequest {
            isolation: None,
            code: wrap(language, request.code, request.input),
            language: None,
            timeout: request.timeout,
            files: Default::default(),
            memory_mb: None,
            disk_mb: None,
            template: None,
            network: None,
            egress: None,
            packages: request.packages.to_vec(),
            input: None,
        };
        let response = self
            .runtime
            .block_on(
                self.engine
                    .execute_as(&self.caller, &id, execute, &screened, &mut |_| {}),
            )
            .map_err(|e| {
                // A dead session (a timeout that would not stop, a memory limit) is
                // replaced for the run's next code node.
                if let EngineError::SessionDead(reason) = &e {
                    self.sessions.remove(&key(language, request));
                    if *reason == DeathReason::Timeout {
                        return NodeError::new("TIMEOUT", "the code node's timeout fired");
                    }
                }
                engine_error(e)
            })?;
        if response.timed_out {
            return Err(NodeError::new("TIMEOUT", "the code node's timeout fired"));
        }
        if let Some(e) = response.error {
            return Err(NodeError {
                code: "EXECUTION_ERROR".into(),
                message: format!("{}: {}", e.name, e.value),
                traceback: Some(e.traceback.concat()),
            });
        }
        let open = self
            .engine
            .read_file(&self.caller, &id, RESULT_FILE)
            .map_err(engine_error)?;
        let mut text = Vec::new();
        open.file
            .take(RESULT_LIMIT)
            .read_to_end(&mut text)
            .map_err(|e| NodeError::new("INTERNAL", format!("cannot read the result: {e}")))?;
        let result: Value = serde_json::from_slice(&text).map_err(|e| {
            NodeError::new(
                "INVALID_RESULT",
                format!("the node's result is not JSON: {e}"),
            )
        })?;
        Ok(CodeOutcome {
            result,
            stdout: response.stdout,
        })
    }
}

impl CodeRunner for SessionCodeRunner {
    fn run(&mut self, request: &CodeRequest<'_>) -> Result<CodeOutcome, NodeError> {
        self.attempt(request)
    }
}

impl Drop for SessionCodeRunner {
    fn drop(&mut self) {
        for (_, id) in self.sessions.drain() {
            let _ = self
                .runtime
                .block_on(self.engine.delete_session(&self.caller, &id));
        }
    }
}

/// An engine error as a node's failure, with its wire code.
pub(crate) fn engine_error(e: EngineError) -> NodeError {
    NodeError::new(e.code().as_str(), e.to_string())
}

/// What the policy screens (syntax, risk) and the execution record keeps: the node's own
/// code, without the prologue and epilogue warden adds (which read the input and write
/// the result to a file, and would otherwise be flagged as the user's). JavaScript code
/// is screened inside the async function it runs in, where it may `return`.
fn screened(language: Language, code: &str) -> String {
    match language {
        Language::Javascript => format!("(async (input) => {{\n{code}\n}});\n"),
        _ => code.to_string(),
    }
}

/// The cell that runs a node: its input bound, its code, its result written out. The
/// input is embedded as a JSON string literal, which is also a valid Python and
/// JavaScript string literal.
fn wrap(language: Language, code: &str, input: &Value) -> String {
    let input = serde_json::to_string(&input.to_string()).unwrap_or_else(|_| "\"null\"".into());
    match language {
        Language::Javascript => format!(
            // `await null;` makes the cell top-level-await code, which the agent awaits.
            "await null;\ntry {{ delete globalThis.result; }} catch (_) {{}}\n\
             var __wardenResult = await (async (input) => {{\n{code}\n\
             ;return typeof result === 'undefined' ? null : result;\n}})(JSON.parse({input}));\n\
             require('fs').writeFileSync('/workspace/{RESULT_FILE}', \
             JSON.stringify(__wardenResult === undefined ? null : __wardenResult));\n"
        ),
        _ => format!(
            "input_data = __import__('json').loads({input})\nresult = None\n{code}\n\
             with open('/workspace/{RESULT_FILE}', 'w') as __warden_f:\n    \
             __import__('json').dump(result, __warden_f, default=str)\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_is_embedded_as_a_string_literal_both_languages_read() {
        let input =
            serde_json::json!({"s": "quote \" and 'single' and \\ and\nnewline", "n": [1, 2.5]});
        let py = wrap(Language::Python, "result = input_data", &input);
        assert!(
            py.starts_with("input_data = __import__('json').loads(\""),
            "{py}"
        );
        assert!(py.contains("\nresult = input_data\n"));
        let js = wrap(Language::Javascript, "return input;", &input);
        assert!(js.contains("JSON.parse(\"{\\\"n\\\":[1,2.5]"), "{js}");
    }
}
