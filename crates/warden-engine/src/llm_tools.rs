//! Function-calling tools for LLM APIs: the definitions of `execute_python` and its
//! companions in OpenAI's and Anthropic's formats, and a model's tool call turned into
//! engine calls and back into the tool-result message(s) that API expects. An agent loop
//! needs two calls: `GET /v1/tools` once, `POST /v1/tools/call` per tool call.

use std::io::Read;

use serde_json::{json, Map, Value};
use warden_protocol::{CellResponse, ExecuteRequest, Language};

use crate::manager::Engine;
use crate::tenancy::Caller;
use crate::EngineError;

/// The API whose wire format the definitions and messages follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    /// OpenAI chat completions (and compatible APIs): `tools: [{"type": "function", ...}]`.
    Openai,
    /// Anthropic messages: `tools: [{"name", "description", "input_schema"}]`.
    Anthropic,
}

impl ToolFormat {
    pub fn parse(s: &str) -> Result<ToolFormat, EngineError> {
        match s {
            "openai" => Ok(ToolFormat::Openai),
            "anthropic" => Ok(ToolFormat::Anthropic),
            other => Err(EngineError::Invalid(format!(
                "unknown tool format '{other}' (openai, anthropic)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToolFormat::Openai => "openai",
            ToolFormat::Anthropic => "anthropic",
        }
    }
}

/// Most bytes of a file `read_file` returns to the model.
const READ_LIMIT: u64 = 256 << 10;
/// Most characters of each output section given to the model (the REST API and the
/// files have everything).
pub const TEXT_LIMIT: usize = 20_000;

const ENVIRONMENT: &str = "The code runs in an isolated sandbox. \
Files live under /workspace (the working directory). Within one session, variables, imports \
and files persist between calls.";

/// What the tool descriptions say about the network: none, or (with `network: true`)
/// HTTP(S) to the hosts of the caller's policy `egress.allow`.
fn network_note(egress: Option<&[String]>) -> String {
    match egress {
        None => " It has no network access.".into(),
        Some(allow) => format!(
            " It has no network unless `network` is true: then HTTP and HTTPS requests (through \
             a proxy the sandbox is already configured for) may reach only these hosts: {}; \
             any other host, and private or local addresses, are refused.",
            allow.join(", ")
        ),
    }
}

/// The tools: name, description, JSON schema of the arguments.
fn catalogue(
    templates: &[String],
    egress: Option<&[String]>,
) -> Vec<(&'static str, String, Value)> {
    let timeout = json!({"type": "number", "description": "Seconds before the code is interrupted (optional)."});
    let network = network_note(egress);
    // The code tools' arguments: `network` only where the policy offers some.
    let code_schema = |code: &str, extra: &[(&str, Value)]| {
        let mut props = serde_json::Map::new();
        props.insert(
            "code".into(),
            json!({"type": "string", "description": code}),
        );
        for (k, v) in extra {
            props.insert((*k).into(), v.clone());
        }
        props.insert("timeout".into(), timeout.clone());
        if egress.is_some() {
            props.insert(
                "network".into(),
                json!({"type": "boolean", "description": "Allow HTTP(S) to the hosts listed in the description (optional; one-shot runs only, a session keeps the network it was created with)."}),
            );
        }
        json!({"type": "object", "properties": props, "required": ["code"]})
    };
    let template_note = if templates.is_empty() {
        String::new()
    } else {
        format!(
            " Templates with preinstalled packages on this server: {}.",
            templates.join(", ")
        )
    };
    vec![
        (
            "execute_python",
            format!(
                "Run Python 3 code and return its stdout, stderr, the value of the last \
                 expression, and any matplotlib figures as images. {ENVIRONMENT}{network} \
                 Packages from the server's allowlist can be asked for with \
                 `packages`.{template_note}"
            ),
            code_schema(
                "The Python code to run.",
                &[(
                    "packages",
                    json!({"type": "array", "items": {"type": "string"},
                           "description": "PyPI requirements to make importable first, e.g. [\"tabulate\"] (optional)."}),
                )],
            ),
        ),
        (
            "execute_javascript",
            format!("Run JavaScript (Node.js) code and return its output and the value of the last expression. {ENVIRONMENT}{network}"),
            code_schema("The JavaScript code to run.", &[]),
        ),
        (
            "execute_bash",
            format!("Run a bash script and return its output. {ENVIRONMENT}{network}"),
            code_schema("The bash commands to run.", &[]),
        ),
        (
            "list_files",
            "List the files of the session's /workspace (or of a directory in it).".to_string(),
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "A directory relative to /workspace (optional)."},
                },
            }),
        ),
        (
            "read_file",
            "Read a text file of the session's /workspace.".to_string(),
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The file, relative to /workspace."},
                },
                "required": ["path"],
            }),
        ),
        (
            "write_file",
            "Write a text file into the session's /workspace (replacing it if it exists).".to_string(),
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The file, relative to /workspace."},
                    "content": {"type": "string", "description": "The text to write."},
                },
                "required": ["path", "content"],
            }),
        ),
    ]
}

/// The tool definitions in a format, as the API's `tools` parameter takes them.
/// `egress`: the caller's policy `egress.allow`, when it has network to offer.
pub fn definitions(
    format: ToolFormat,
    templates: &[String],
    egress: Option<&[String]>,
) -> Vec<Value> {
    catalogue(templates, egress)
        .into_iter()
        .map(|(name, description, schema)| match format {
            ToolFormat::Openai => json!({
                "type": "function",
                "function": {"name": name, "description": description, "parameters": schema},
            }),
            ToolFormat::Anthropic => json!({
                "name": name, "description": description, "input_schema": schema,
            }),
        })
        .collect()
}

/// A tool call as the model emitted it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Map<String, Value>,
}

/// Reads a tool call in a format: OpenAI's `{"id", "type": "function", "function":
/// {"name", "arguments": "<JSON text>"}}`, or Anthropic's `{"type": "tool_use", "id",
/// "name", "input": {...}}`.
pub fn parse_call(format: ToolFormat, body: &Value) -> Result<ToolCall, EngineError> {
    let bad =
        |what: &str| EngineError::Invalid(format!("not a {} tool call: {what}", format.as_str()));
    let text = |v: &Value, field: &str| -> Result<String, EngineError> {
        v.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("`{field}` must be a string")))
    };
    let (id, name, arguments) = match format {
        ToolFormat::Openai => {
            let function = body.get("function").ok_or_else(|| bad("no `function`"))?;
            let arguments = match function.get("arguments") {
                // As OpenAI sends them: a JSON text.
                Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
                Some(Value::String(s)) => serde_json::from_str(s)
                    .map_err(|e| bad(&format!("`function.arguments` is not JSON: {e}")))?,
                Some(v @ Value::Object(_)) => v.clone(),
                None => Value::Object(Map::new()),
                Some(_) => return Err(bad("`function.arguments` must be a JSON object")),
            };
            (text(body, "id")?, text(function, "name")?, arguments)
        }
        ToolFormat::Anthropic => {
            if body.get("type").and_then(Value::as_str) != Some("tool_use") {
                return Err(bad("`type` must be \"tool_use\""));
            }
            let input = body.get("input").cloned().unwrap_or(json!({}));
            (text(body, "id")?, text(body, "name")?, input)
        }
    };
    let Value::Object(arguments) = arguments else {
        return Err(bad("the arguments must be a JSON object"));
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

/// What a tool produced: text for the model, PNG images (base64), and whether it failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub images: Vec<String>,
    pub is_error: bool,
}

impl ToolOutput {
    fn error(e: &EngineError) -> ToolOutput {
        let mut text = format!("error [{}]: {e}", e.code());
        let context = e.context();
        for f in &context.findings {
            text.push_str(&format!("\n  line {}: {} {}", f.line, f.rule, f.message));
        }
        ToolOutput {
            text,
            images: Vec::new(),
            is_error: true,
        }
    }
}

/// Appends `label:` and its text, cut at [`TEXT_LIMIT`] characters.
fn section(out: &mut String, label: &str, body: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(label);
    out.push_str(":\n");
    match body.char_indices().nth(TEXT_LIMIT) {
        Some((cut, _)) => {
            out.push_str(&body[..cut]);
            out.push_str(&format!(
                "\n[... {} more characters]\n",
                body[cut..].chars().count()
            ));
        }
        None => out.push_str(body),
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Appends a one-line note.
fn note(out: &mut String, text: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("note: ");
    out.push_str(text);
    out.push('\n');
}

/// A cell's (or one-shot run's) result for a model: one text with labelled sections
/// (`stdout:`, `stderr:`, `output:`, `result:`, `error:` with the traceback, notes), each
/// cut at [`TEXT_LIMIT`] characters, and every PNG (base64). A cell that raised or timed
/// out is an error. Shared by `POST /v1/tools/call` and the MCP server.
pub fn cell_output(r: &CellResponse) -> ToolOutput {
    let mut out = String::new();
    let mut images = Vec::new();
    if !r.stdout.is_empty() {
        section(&mut out, "stdout", &r.stdout);
    }
    if r.stdout_truncated {
        note(&mut out, "stdout was truncated at the server's limit");
    }
    if !r.stderr.is_empty() {
        section(&mut out, "stderr", &r.stderr);
    }
    if r.stderr_truncated {
        note(&mut out, "stderr was truncated at the server's limit");
    }
    for bundle in &r.outputs {
        if let Some(png) = bundle.get("image/png") {
            images.push(png.clone());
        } else if let Some(text) = bundle.get("text/plain") {
            section(&mut out, "output", text);
        }
    }
    if let Some(value) = &r.value {
        if let Some(png) = value.get("image/png") {
            images.push(png.clone());
        }
        if let Some(text) = value.get("text/plain") {
            section(&mut out, "result", text);
        }
    }
    if let Some(e) = &r.error {
        let headline = format!("{}: {}", e.name, e.value);
        let mut traceback = String::new();
        for line in &e.traceback {
            traceback.push_str(line);
            if !line.ends_with('\n') {
                traceback.push('\n');
            }
        }
        // Python's traceback ends with the headline itself.
        let traceback = traceback
            .trim_end()
            .strip_suffix(headline.trim_end())
            .unwrap_or(&traceback)
            .trim_end();
        let body = if traceback.is_empty() {
            headline
        } else {
            format!("{headline}\n{traceback}")
        };
        section(&mut out, "error", &body);
    }
    if r.timed_out {
        note(&mut out, "the code was interrupted: its timeout fired");
    }
    if !r.secrets.is_empty() {
        let kinds: Vec<String> = r.secrets.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        note(
            &mut out,
            &format!("secrets in the output were redacted: {}", kinds.join(", ")),
        );
    }
    if let Some(files) = r.files.as_ref().filter(|f| !f.is_empty()) {
        let list: Vec<String> = files
            .iter()
            .map(|f| format!("{} ({} bytes)", f.path, f.size))
            .collect();
        section(
            &mut out,
            "files written (discarded with the one-shot sandbox; use a session to keep them)",
            &list.join("\n"),
        );
    }
    if !images.is_empty() {
        note(&mut out, &format!("{} image(s) attached", images.len()));
    }
    if out.is_empty() {
        out.push_str("(no output)");
    }
    ToolOutput {
        text: out,
        images,
        is_error: r.error.is_some() || r.timed_out,
    }
}

/// The messages to append to the conversation for a tool call's output.
pub fn result_messages(format: ToolFormat, call: &ToolCall, out: &ToolOutput) -> Vec<Value> {
    match format {
        ToolFormat::Openai => {
            // Tool messages carry text only; images follow in a user message.
            let mut messages = vec![json!({
                "role": "tool", "tool_call_id": call.id, "content": out.text,
            })];
            if !out.images.is_empty() {
                let mut parts = vec![json!({
                    "type": "text",
                    "text": format!("Images produced by tool call {}:", call.id),
                })];
                parts.extend(out.images.iter().map(|png| {
                    json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}})
                }));
                messages.push(json!({"role": "user", "content": parts}));
            }
            messages
        }
        ToolFormat::Anthropic => {
            let mut content = vec![json!({"type": "text", "text": out.text})];
            content.extend(out.images.iter().map(|png| {
                json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}})
            }));
            vec![json!({
                "role": "user",
                "content": [{
                    "type": "tool_result", "tool_use_id": call.id,
                    "is_error": out.is_error, "content": content,
                }],
            })]
        }
    }
}

fn string_arg<'a>(call: &'a ToolCall, name: &str) -> Result<&'a str, EngineError> {
    call.arguments
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| EngineError::Invalid(format!("`{name}` must be a string")))
}

impl Engine {
    /// Runs a model's tool call: code in the session `session_id` (one-shot without
    /// one), or a file operation on the session. A failure of the tool (the code
    /// raised, a policy refused it, no such session) is the tool's output, for the model
    /// to read; only a malformed call is an error.
    pub async fn call_tool(
        &self,
        caller: &Caller,
        format: ToolFormat,
        session_id: Option<&str>,
        body: &Value,
    ) -> Result<Vec<Value>, EngineError> {
        let call = parse_call(format, body)?;
        let out = self
            .run_tool(caller, session_id, &call)
            .await
            .unwrap_or_else(|e| ToolOutput::error(&e));
        Ok(result_messages(format, &call, &out))
    }

    async fn run_tool(
        &self,
        caller: &Caller,
        session_id: Option<&str>,
        call: &ToolCall,
    ) -> Result<ToolOutput, EngineError> {
        let need_session = || {
            session_id.ok_or_else(|| {
                EngineError::Invalid(format!(
                    "{} needs a session: pass session_id to /v1/tools/call",
                    call.name
                ))
            })
        };
        let language = match call.name.as_str() {
            "execute_python" => Some(Language::Python),
            "execute_javascript" => Some(Language::Javascript),
            "execute_bash" => Some(Language::Bash),
            _ => None,
        };
        if let Some(language) = language {
            let req = ExecuteRequest {
                isolation: None,
                code: string_arg(call, "code")?.to_string(),
                language: Some(language),
                timeout: call.arguments.get("timeout").and_then(Value::as_f64),
                files: Default::default(),
                memory_mb: None,
                disk_mb: None,
                template: None,
                network: match call.arguments.get("network") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b).filter(|_| session_id.is_none()),
                    Some(_) => {
                        return Err(EngineError::Invalid(
                            "`network` must be true or false".into(),
                        ))
                    }
                },
                egress: None,
                packages: match call.arguments.get("packages") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
                        EngineError::Invalid("`packages` must be a list of strings".into())
                    })?,
                },
                input: None,
            };
            let response = match session_id {
                Some(id) => self.execute(caller, id, req, &mut |_| {}).await?,
                None => self.execute_once(caller, req, &mut |_| {}).await?,
            };
            return Ok(cell_output(&response));
        }
        match call.name.as_str() {
            "list_files" => {
                let path = call.arguments.get("path").and_then(Value::as_str).unwrap_or("");
                let entries = self.list_files(caller, need_session()?, path)?;
                let lines: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        let kind = serde_json::to_value(e.kind).unwrap_or_default();
                        format!("{} ({}, {} bytes)", e.path, kind.as_str().unwrap_or(""), e.size)
                    })
                    .collect();
                Ok(ToolOutput {
                    text: if lines.is_empty() {
                        "(no files)".into()
                    } else {
                        lines.join("\n")
                    },
                    ..ToolOutput::default()
                })
            }
            "read_file" => {
                let open = self.read_file(caller, need_session()?, string_arg(call, "path")?)?;
                let mut data = Vec::new();
                open.file
                    .take(READ_LIMIT)
                    .read_to_end(&mut data)
                    .map_err(EngineError::Io)?;
                let text = match String::from_utf8(data) {
                    Ok(t) if open.entry.size > READ_LIMIT => format!(
                        "{t}\n[the first {READ_LIMIT} of {} bytes]",
                        open.entry.size
                    ),
                    Ok(t) => t,
                    Err(_) => format!(
                        "{} is binary ({} bytes); read it with code instead",
                        open.entry.path, open.entry.size
                    ),
                };
                Ok(ToolOutput {
                    text,
                    ..ToolOutput::default()
                })
            }
            "write_file" => {
                let path = string_arg(call, "path")?;
                let content = string_arg(call, "content")?.as_bytes();
                let entry = self
                    .write_file(
                        caller,
                        need_session()?,
                        path,
                        Some(content.len() as u64),
                        content,
                    )
                    .await?;
                Ok(ToolOutput {
                    text: format!("wrote {} ({} bytes)", entry.path, entry.size),
                    ..ToolOutput::default()
                })
            }
            other => Err(EngineError::Invalid(format!(
                "no tool named '{other}' (execute_python, execute_javascript, execute_bash, list_files, read_file, write_file)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_parse_in_both_formats_and_bad_ones_are_refused() {
        let openai = json!({"id": "call_1", "type": "function",
            "function": {"name": "execute_python", "arguments": "{\"code\": \"print(1)\"}"}});
        let call = parse_call(ToolFormat::Openai, &openai).unwrap();
        assert_eq!(
            (call.id.as_str(), call.name.as_str()),
            ("call_1", "execute_python")
        );
        assert_eq!(call.arguments["code"], "print(1)");
        let anthropic = json!({"type": "tool_use", "id": "toolu_1", "name": "read_file",
            "input": {"path": "a.txt"}});
        let call = parse_call(ToolFormat::Anthropic, &anthropic).unwrap();
        assert_eq!(call.arguments["path"], "a.txt");

        for (format, body) in [
            (ToolFormat::Openai, json!({"id": "x"})),
            (
                ToolFormat::Openai,
                json!({"id": "x", "function": {"name": "f", "arguments": "{"}}),
            ),
            (
                ToolFormat::Openai,
                json!({"id": "x", "function": {"name": "f", "arguments": "[1]"}}),
            ),
            (ToolFormat::Anthropic, openai.clone()),
            (
                ToolFormat::Anthropic,
                json!({"type": "tool_use", "name": "f"}),
            ),
        ] {
            assert!(
                matches!(parse_call(format, &body), Err(EngineError::Invalid(_))),
                "{body}"
            );
        }
        assert!(ToolFormat::parse("gemini").is_err());
    }

    #[test]
    fn definitions_follow_each_apis_shape() {
        let openai = definitions(ToolFormat::Openai, &["python-data".into()], None);
        let names: Vec<&str> = openai
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "execute_python",
                "execute_javascript",
                "execute_bash",
                "list_files",
                "read_file",
                "write_file"
            ]
        );
        assert_eq!(openai[0]["type"], "function");
        assert_eq!(
            openai[0]["function"]["parameters"]["required"],
            json!(["code"])
        );
        assert!(openai[0]["function"]["description"]
            .as_str()
            .unwrap()
            .contains("python-data"));
        let anthropic = definitions(
            ToolFormat::Anthropic,
            &[],
            Some(&["api.github.com".to_string()]),
        );
        assert_eq!(anthropic[5]["name"], "write_file");
        assert_eq!(
            anthropic[5]["input_schema"]["required"],
            json!(["path", "content"])
        );
        // The network: said, and offered as an argument, only where the policy has some.
        let with = anthropic[0]["description"].as_str().unwrap();
        assert!(with.contains("only these hosts: api.github.com"), "{with}");
        assert_eq!(
            anthropic[0]["input_schema"]["properties"]["network"]["type"],
            "boolean"
        );
        let without = openai[0]["function"]["description"].as_str().unwrap();
        assert!(without.contains("no network access"), "{without}");
        assert!(openai[0]["function"]["parameters"]["properties"]
            .get("network")
            .is_none());
    }

    #[test]
    fn outputs_become_each_apis_messages_with_images() {
        let call = ToolCall {
            id: "c1".into(),
            name: "execute_python".into(),
            arguments: Map::new(),
        };
        let out = ToolOutput {
            text: "stdout:\nhi\n".into(),
            images: vec!["iVBORw0KGgo=".into()],
            is_error: false,
        };
        let m = result_messages(ToolFormat::Openai, &call, &out);
        assert_eq!(
            m[0],
            json!({"role": "tool", "tool_call_id": "c1", "content": "stdout:\nhi\n"})
        );
        assert_eq!(m[1]["role"], "user");
        assert_eq!(
            m[1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,iVBORw0KGgo="
        );
        let m = result_messages(ToolFormat::Anthropic, &call, &out);
        assert_eq!(m.len(), 1);
        let result = &m[0]["content"][0];
        assert_eq!(result["type"], "tool_result");
        assert_eq!(result["tool_use_id"], "c1");
        assert_eq!(result["content"][1]["source"]["data"], "iVBORw0KGgo=");
        assert_eq!(result["is_error"], false);
    }
}
