//! Engine results as tool results: concise, labelled text for the model, images as MCP
//! image content, and failures as tool errors that start with their stable code.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock};
use warden_engine::EngineError;
use warden_protocol::{CellResponse, ErrorCode, FileEntry, FileKind};
use warden_server::ApiError;

use crate::tools::{SessionCreated, READ_LIMIT};

pub(crate) fn text(text: String) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A failure as the model sees it: `CODE: message`, as the API words it (internal details
/// stay in the server log), with what the code carries besides (when to retry, the
/// findings behind a security violation).
pub(crate) fn failure(e: EngineError) -> CallToolResult {
    let e = ApiError::from(e);
    let mut text = format!("{}: {}", e.code, e.message);
    if let Some(secs) = e.retry_after {
        let _ = write!(text, " (retry after {secs} s)");
    }
    for f in &e.context.findings {
        let _ = write!(
            text,
            "\n  line {}, column {}: {} [{}] {}",
            f.line,
            f.col,
            f.rule,
            f.severity.as_str(),
            f.message
        );
    }
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// rmcp's words for arguments that do not fit a tool's schema.
const ARGUMENT_ERROR: &str = "failed to deserialize parameters: ";

/// Words a tool error rmcp made of arguments that do not fit the tool's schema as warden
/// words failures: `INVALID_REQUEST: ...`.
pub(crate) fn name_argument_errors(result: &mut CallToolResult) {
    if result.is_error != Some(true) || result.content.len() != 1 {
        return;
    }
    let Some(message) = result.content[0]
        .as_text()
        .and_then(|t| t.text.strip_prefix(ARGUMENT_ERROR))
    else {
        return;
    };
    let text = format!(
        "{}: the arguments do not fit the tool's input schema: {message}",
        ErrorCode::InvalidRequest
    );
    result.content = vec![ContentBlock::text(text)];
}

/// The result of a cell or a one-shot run, worded as `POST /v1/tools/call` words it
/// (`warden_engine::llm_tools::cell_output`): one text block and one image block per PNG.
/// A cell that raised or timed out is a tool error.
pub(crate) fn cell(r: &CellResponse) -> CallToolResult {
    let out = warden_engine::llm_tools::cell_output(r);
    let mut content = vec![ContentBlock::text(out.text)];
    content.extend(
        out.images
            .into_iter()
            .map(|png| ContentBlock::image(png, "image/png")),
    );
    if out.is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
}

/// A new session: its id as text, and the same as structured content.
pub(crate) fn session_created(s: SessionCreated) -> CallToolResult {
    let text = format!(
        "{}\nA {} session: pass this session_id to run_code, list_files, read_file, write_file \
         and install_packages; close it with close_session when done.",
        s.session_id, s.language
    );
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(&s).ok();
    result
}

/// A directory listing, one entry a line.
pub(crate) fn listing(dir: &str, entries: &[FileEntry]) -> CallToolResult {
    let shown = if dir.is_empty() {
        "/workspace".to_string()
    } else {
        format!("/workspace/{dir}")
    };
    if entries.is_empty() {
        return text(format!("{shown} is empty"));
    }
    let mut out = format!("{shown}:\n");
    for e in entries {
        let _ = match e.kind {
            FileKind::Directory => writeln!(out, "{}/", e.name),
            FileKind::File => writeln!(out, "{}  {} bytes", e.name, e.size),
            FileKind::Symlink => writeln!(out, "{}  (symlink)", e.name),
            FileKind::Other => writeln!(out, "{}  (special file)", e.name),
        };
    }
    text(out)
}

/// The image type of a file's first bytes, for the formats MCP clients show.
fn image_type(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// A file's content: text when it is UTF-8 (without NUL), an image, or base64 with a
/// note.
/// `data` holds at most [`READ_LIMIT`] bytes of a file of `size` bytes.
pub(crate) fn file(path: &str, size: u64, data: Vec<u8>) -> CallToolResult {
    let truncated = size > data.len() as u64;
    let cut = if truncated {
        format!(" (the first {READ_LIMIT} bytes of {size})")
    } else {
        String::new()
    };
    if !truncated {
        if let Some(mime) = image_type(&data) {
            return CallToolResult::success(vec![
                ContentBlock::text(format!("/workspace/{path}: {mime}, {size} bytes")),
                ContentBlock::image(BASE64.encode(&data), mime),
            ]);
        }
    }
    let text_of = match std::str::from_utf8(&data) {
        Ok(s) => Some(s),
        // A cut may split the last character.
        Err(e) if truncated && e.error_len().is_none() => {
            std::str::from_utf8(&data[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
    // NUL is valid UTF-8 but no text file has one.
    .filter(|s| !s.contains('\0'));
    match text_of {
        Some(s) if truncated => text(format!("[/workspace/{path}{cut}]\n{s}")),
        Some(s) => text(s.to_string()),
        None => text(format!(
            "/workspace/{path} is binary ({size} bytes), not UTF-8; its content{cut} in base64:\n{}",
            BASE64.encode(&data)
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use warden_protocol::CellErrorInfo;

    use super::*;

    fn response() -> CellResponse {
        CellResponse {
            tier: None,
            status: "ok".into(),
            execution_count: 1,
            value: None,
            error: None,
            outputs: vec![],
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            timed_out: false,
            duration_ms: 1.0,
            files: None,
            execution_id: None,
            risk: None,
            findings: vec![],
            secrets: BTreeMap::new(),
            egress: None,
            result: None,
            error_code: None,
        }
    }

    fn texts(r: &CallToolResult) -> String {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    }

    #[test]
    fn output_and_value_are_labelled() {
        let mut r = response();
        r.stdout = "hi\n".into();
        r.value = Some(BTreeMap::from([("text/plain".into(), "42".into())]));
        let result = cell(&r);
        assert_eq!(result.is_error, Some(false));
        assert_eq!(texts(&result), "stdout:\nhi\nresult:\n42\n");
    }

    #[test]
    fn figures_are_images_and_their_text_is_left_out() {
        let mut r = response();
        r.outputs = vec![BTreeMap::from([
            ("image/png".into(), "iVBORw0KGgo".into()),
            (
                "text/plain".into(),
                "<Figure size 640x480 with 1 Axes>".into(),
            ),
        ])];
        let result = cell(&r);
        assert_eq!(texts(&result), "note: 1 image(s) attached\n");
        let image = result.content[1].as_image().unwrap();
        assert_eq!(image.data, "iVBORw0KGgo");
        assert_eq!(image.mime_type, "image/png");
    }

    #[test]
    fn an_exception_is_a_tool_error_with_its_traceback_once() {
        let mut r = response();
        r.status = "error".into();
        r.error = Some(CellErrorInfo {
            name: "ZeroDivisionError".into(),
            value: "division by zero".into(),
            traceback: vec![
                "Traceback (most recent call last):\n".into(),
                "  File \"<cell-1>\", line 1, in <module>\n".into(),
                "ZeroDivisionError: division by zero\n".into(),
            ],
        });
        let result = cell(&r);
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            texts(&result),
            "error:\nZeroDivisionError: division by zero\nTraceback (most recent call last):\n  File \"<cell-1>\", line 1, in <module>\n"
        );
    }

    #[test]
    fn argument_errors_are_invalid_requests() {
        let mut r = CallToolResult::error(vec![ContentBlock::text(
            "failed to deserialize parameters: missing field `code`",
        )]);
        name_argument_errors(&mut r);
        assert_eq!(
            texts(&r),
            "INVALID_REQUEST: the arguments do not fit the tool's input schema: missing field `code`"
        );
        let mut r =
            CallToolResult::error(vec![ContentBlock::text("SESSION_NOT_FOUND: no session x")]);
        name_argument_errors(&mut r);
        assert_eq!(texts(&r), "SESSION_NOT_FOUND: no session x");
    }

    #[test]
    fn long_sections_are_cut() {
        let mut r = response();
        r.stdout = "x".repeat(warden_engine::llm_tools::TEXT_LIMIT + 5);
        let text = texts(&cell(&r));
        assert!(
            text.ends_with("x\n[... 5 more characters]\n"),
            "{}",
            &text[text.len() - 40..]
        );
    }

    #[test]
    fn failures_start_with_their_code_and_hide_internals() {
        let result = failure(EngineError::SessionNotFound("ses_x".into()));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(texts(&result), "SESSION_NOT_FOUND: no session ses_x");
        let result = failure(EngineError::Protocol("agent said something odd".into()));
        assert_eq!(texts(&result), "INTERNAL: internal error");
    }

    #[test]
    fn files_are_text_images_or_base64() {
        assert_eq!(texts(&file("a.txt", 2, b"hi".to_vec())), "hi");
        let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
        let r = file("p.png", png.len() as u64, png);
        assert_eq!(r.content[1].as_image().unwrap().mime_type, "image/png");
        let r = file("b.bin", 2, vec![0xff, 0xfe]);
        assert!(texts(&r).ends_with("base64:\n//4="), "{}", texts(&r));
        let r = file("n.bin", 2, vec![0, 1]);
        assert!(texts(&r).ends_with("base64:\nAAE="), "{}", texts(&r));
        // A cut in the middle of a character keeps the whole ones.
        let r = file("big.txt", 10, "aé".as_bytes()[..2].to_vec());
        assert!(texts(&r).ends_with("]\na"), "{}", texts(&r));
    }
}
