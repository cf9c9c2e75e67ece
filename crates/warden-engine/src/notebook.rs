//! Notebooks in and out: a session's cells as a Jupyter notebook (nbformat 4.5), and the
//! code cells of an `.ipynb` to replay into a new session.
//!
//! A session keeps the cells it ran (code and reply) in a bounded [`History`]; the
//! export turns each into a code cell with its outputs: `stream` for stdout and stderr,
//! `display_data` for rich outputs (figures as `image/png`, base64 as nbformat stores
//! them), `execute_result` for the final value, `error` for an exception.

use std::collections::VecDeque;

use serde_json::{json, Map, Value};
use warden_protocol::{CellResponse, Language};

/// Cells a session keeps for its notebook; older ones are dropped (and counted).
pub const MAX_CELLS: usize = 1000;
/// Bytes of code and output a session keeps for its notebook, about.
pub const MAX_BYTES: usize = 64 << 20;
/// Code cells a notebook may bring to replay.
pub const MAX_REPLAY_CELLS: usize = 500;

/// The cells a session ran, oldest first, within [`MAX_CELLS`] and [`MAX_BYTES`].
#[derive(Debug, Default)]
pub struct History {
    cells: VecDeque<(String, CellResponse, usize)>,
    bytes: usize,
    /// Cells dropped to stay within the bounds.
    pub dropped: u64,
}

impl History {
    pub fn push(&mut self, code: &str, reply: &CellResponse) {
        let size = code.len()
            + reply.stdout.len()
            + reply.stderr.len()
            + reply
                .outputs
                .iter()
                .chain(reply.value.iter())
                .flat_map(|b| b.values())
                .map(String::len)
                .sum::<usize>();
        self.cells
            .push_back((code.to_string(), reply.clone(), size));
        self.bytes += size;
        while self.cells.len() > MAX_CELLS || (self.bytes > MAX_BYTES && self.cells.len() > 1) {
            if let Some((_, _, n)) = self.cells.pop_front() {
                self.bytes -= n;
                self.dropped += 1;
            }
        }
    }

    /// Forgets every cell (a restart: the notebook starts again).
    pub fn clear(&mut self) {
        self.cells.clear();
        self.bytes = 0;
        self.dropped = 0;
    }

    pub fn cells(&self) -> impl Iterator<Item = (&str, &CellResponse)> {
        self.cells.iter().map(|(c, r, _)| (c.as_str(), r))
    }
}

/// Splits text into nbformat's multiline form: lines that keep their `\n`.
fn lines(text: &str) -> Value {
    Value::Array(
        text.split_inclusive('\n')
            .map(|l| Value::String(l.to_string()))
            .collect(),
    )
}

/// A MIME bundle as nbformat's `data`: text types as lines, images as their base64
/// string, JSON as JSON.
fn data(bundle: &std::collections::BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    for (mime, content) in bundle {
        let value = if mime == "application/json" {
            serde_json::from_str(content).unwrap_or_else(|_| Value::String(content.clone()))
        } else if mime.starts_with("image/") && mime != "image/svg+xml" {
            Value::String(content.clone())
        } else {
            lines(content)
        };
        out.insert(mime.clone(), value);
    }
    Value::Object(out)
}

/// The kernel a notebook of `language` names, and its `language_info`.
fn kernel(language: Language) -> (Value, Value) {
    match language {
        Language::Javascript => (
            json!({"name": "javascript", "display_name": "JavaScript (warden)", "language": "javascript"}),
            json!({"name": "javascript", "file_extension": ".js", "mimetype": "application/javascript"}),
        ),
        Language::Bash => (
            json!({"name": "bash", "display_name": "Bash (warden)", "language": "bash"}),
            json!({"name": "bash", "file_extension": ".sh", "mimetype": "text/x-sh"}),
        ),
        _ => (
            json!({"name": "python3", "display_name": "Python 3 (warden)", "language": "python"}),
            json!({"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}),
        ),
    }
}

/// The session's cells as an nbformat 4.5 notebook.
pub fn export(session_id: &str, language: Language, history: &History) -> Value {
    let cells: Vec<Value> = history
        .cells()
        .enumerate()
        .map(|(i, (code, r))| {
            let mut outputs = Vec::new();
            for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                if !text.is_empty() {
                    outputs.push(json!({"output_type": "stream", "name": name, "text": lines(text)}));
                }
            }
            for bundle in &r.outputs {
                outputs.push(
                    json!({"output_type": "display_data", "data": data(bundle), "metadata": {}}),
                );
            }
            if let Some(value) = &r.value {
                outputs.push(json!({"output_type": "execute_result", "data": data(value),
                    "metadata": {}, "execution_count": r.execution_count}));
            }
            if let Some(e) = &r.error {
                outputs.push(json!({"output_type": "error", "ename": e.name, "evalue": e.value,
                    "traceback": e.traceback.iter().map(|l| l.trim_end_matches('\n')).collect::<Vec<_>>()}));
            }
            json!({
                "cell_type": "code",
                "id": format!("cell-{}", history.dropped + i as u64 + 1),
                "execution_count": r.execution_count,
                "metadata": {},
                "source": lines(code),
                "outputs": outputs,
            })
        })
        .collect();
    let (kernelspec, language_info) = kernel(language);
    json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": kernelspec,
            "language_info": language_info,
            "warden": {"session_id": session_id, "cells_dropped": history.dropped},
        },
        "cells": cells,
    })
}

/// The code cells of an nbformat 4 notebook, in order (markdown and raw cells skipped;
/// empty code cells too). `Err` says what is wrong with it.
pub fn code_cells(notebook: &Value) -> Result<Vec<String>, String> {
    let bad = |why: &str| Err(format!("notebook: {why}"));
    let Some(nb) = notebook.as_object() else {
        return bad("must be a JSON object (an .ipynb file's content)");
    };
    match nb.get("nbformat").and_then(Value::as_u64) {
        Some(4) => {}
        Some(v) => return bad(&format!("nbformat {v} is not supported (only 4)")),
        None => return bad("no `nbformat` (an .ipynb file has `\"nbformat\": 4`)"),
    }
    let Some(cells) = nb.get("cells").and_then(Value::as_array) else {
        return bad("no `cells` list");
    };
    let mut out = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let kind = cell.get("cell_type").and_then(Value::as_str);
        match kind {
            Some("code") => {}
            Some("markdown" | "raw") => continue,
            _ => return bad(&format!("cell {i} has no known `cell_type`")),
        }
        let source = match cell.get("source") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut s = String::new();
                for p in parts {
                    match p.as_str() {
                        Some(p) => s.push_str(p),
                        None => return bad(&format!("cell {i}: `source` must be text")),
                    }
                }
                s
            }
            _ => return bad(&format!("cell {i}: no `source`")),
        };
        if !source.trim().is_empty() {
            out.push(source);
        }
    }
    if out.len() > MAX_REPLAY_CELLS {
        return bad(&format!(
            "{} code cells, more than the {MAX_REPLAY_CELLS} a notebook may replay",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(stdout: &str, value: Option<&str>) -> CellResponse {
        CellResponse {
            tier: None,
            status: "ok".into(),
            execution_count: 1,
            value: value.map(|v| [("text/plain".to_string(), v.to_string())].into()),
            error: None,
            outputs: vec![[("image/png".to_string(), "iVBORw0K".to_string())].into()],
            stdout: stdout.into(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            timed_out: false,
            duration_ms: 1.0,
            files: None,
            execution_id: None,
            risk: None,
            findings: vec![],
            secrets: Default::default(),
            egress: None,
            result: None,
            error_code: None,
        }
    }

    #[test]
    fn cells_export_with_their_outputs_and_code_cells_come_back() {
        let mut h = History::default();
        h.push("print('a')\nx = 41", &reply("a\n", None));
        h.push("x + 1", &reply("", Some("42")));
        let nb = export("ses_1", Language::Python, &h);
        assert_eq!(nb["nbformat"], 4);
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "python3");
        let cells = nb["cells"].as_array().unwrap();
        assert_eq!(cells[0]["source"], json!(["print('a')\n", "x = 41"]));
        assert_eq!(cells[0]["outputs"][0]["text"], json!(["a\n"]));
        assert_eq!(cells[0]["outputs"][1]["data"]["image/png"], "iVBORw0K");
        assert_eq!(cells[1]["outputs"][1]["data"]["text/plain"], json!(["42"]));
        assert_eq!(
            code_cells(&nb).unwrap(),
            ["print('a')\nx = 41".to_string(), "x + 1".into()]
        );
    }

    #[test]
    fn bad_notebooks_say_what_is_wrong() {
        for (nb, why) in [
            (json!([]), "JSON object"),
            (json!({"cells": []}), "nbformat"),
            (json!({"nbformat": 3, "cells": []}), "nbformat 3"),
            (json!({"nbformat": 4}), "cells"),
            (
                json!({"nbformat": 4, "cells": [{"source": "x"}]}),
                "cell_type",
            ),
            (
                json!({"nbformat": 4, "cells": [{"cell_type": "code", "source": [1]}]}),
                "text",
            ),
        ] {
            let e = code_cells(&nb).unwrap_err();
            assert!(e.contains(why), "{e} should say {why}");
        }
        let nb = json!({"nbformat": 4, "cells": [{"cell_type": "markdown", "source": "# t"},
            {"cell_type": "code", "source": "  \n"}, {"cell_type": "code", "source": "1"}]});
        assert_eq!(code_cells(&nb).unwrap(), ["1"]);
    }

    #[test]
    fn the_history_is_bounded() {
        let mut h = History::default();
        for _ in 0..MAX_CELLS + 5 {
            h.push("1", &reply("", None));
        }
        assert_eq!((h.cells().count(), h.dropped), (MAX_CELLS, 5));
        let nb = export("s", Language::Python, &h);
        assert_eq!(nb["cells"][0]["id"], "cell-6");
        h.clear();
        assert_eq!(h.cells().count(), 0);
    }
}
