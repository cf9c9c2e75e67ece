//! The agent protocol: frames of a 4-byte big-endian length and UTF-8 JSON, requests on
//! the agent's fd 3 and replies on its fd 4 (see `runtimes/python/agent.py`). The bash
//! agent cannot read binary lengths, so its requests are text: a line `<id> <length>` and
//! then the code's bytes (see `runtimes/bash/agent.sh`); its replies are common frames.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest reply frame accepted from an agent (a cell's rich outputs included).
pub const MAX_FRAME: usize = 64 << 20;

/// A request to an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request<'a> {
    Execute {
        id: u64,
        code: &'a str,
        /// Bound to `input_data` (Python) or `input` (JavaScript) before the code runs.
        #[serde(skip_serializing_if = "Option::is_none")]
        input: Option<&'a serde_json::Value>,
        /// Send back the variable `result` as JSON.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        result: bool,
    },
    Ping {
        id: u64,
    },
    /// Python only: put these directories on `sys.path` (answered with a pong).
    Paths {
        id: u64,
        paths: &'a [String],
    },
}

/// A MIME bundle: `{"text/plain": "...", "image/png": "<base64>", ...}`.
pub type MimeBundle = BTreeMap<String, String>;

/// An exception raised by a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellError {
    pub name: String,
    pub value: String,
    /// Formatted traceback lines, without the agent's own frames.
    pub traceback: Vec<String>,
}

/// A reply from an agent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Ready {
        pid: i64,
        #[serde(default)]
        python: Option<String>,
    },
    Pong {
        id: u64,
    },
    Result {
        id: u64,
        execution_count: u64,
        status: String,
        value: Option<MimeBundle>,
        error: Option<CellError>,
        #[serde(default)]
        outputs: Vec<MimeBundle>,
        /// The variable `result`, when asked for.
        #[serde(default)]
        result: Option<serde_json::Value>,
    },
    Error {
        id: Option<u64>,
        message: String,
    },
}

/// Encodes one request for a language's agent.
pub fn encode_for(language: warden_protocol::Language, request: &Request<'_>) -> Vec<u8> {
    match (language, request) {
        (warden_protocol::Language::Bash, Request::Execute { id, code, .. }) => {
            let mut frame = format!("{id} {}\n", code.len()).into_bytes();
            frame.extend_from_slice(code.as_bytes());
            frame
        }
        (warden_protocol::Language::Bash, Request::Ping { id }) => format!("{id} 0\n").into_bytes(),
        _ => encode(request),
    }
}

/// Encodes one frame.
pub fn encode(request: &Request<'_>) -> Vec<u8> {
    let body = serde_json::to_vec(request).unwrap_or_default();
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend((body.len() as u32).to_be_bytes());
    frame.extend(body);
    frame
}

/// Accumulates bytes and yields complete reply frames.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete reply, if one has arrived.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, String> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME {
            return Err(format!(
                "a reply of {len} bytes exceeds the {MAX_FRAME}-byte limit"
            ));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let reply =
            serde_json::from_slice(&self.buf[4..4 + len]).map_err(|e| format!("bad reply: {e}"));
        self.buf.drain(..4 + len);
        reply.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &str) -> Vec<u8> {
        let mut f = (json.len() as u32).to_be_bytes().to_vec();
        f.extend(json.as_bytes());
        f
    }

    #[test]
    fn requests_encode_with_a_length_prefix() {
        let f = encode(&Request::Execute {
            id: 7,
            code: "x + 1",
            input: None,
            result: false,
        });
        let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(len, f.len() - 4);
        let v: serde_json::Value = serde_json::from_slice(&f[4..]).unwrap();
        assert_eq!(v["op"], "execute");
        assert_eq!(v["id"], 7);
        assert_eq!(v["code"], "x + 1");
        assert!(v.get("input").is_none() && v.get("result").is_none(), "{v}");
        let input = serde_json::json!({"a": [1, 2]});
        let f = encode(&Request::Execute {
            id: 8,
            code: "result = input_data",
            input: Some(&input),
            result: true,
        });
        let v: serde_json::Value = serde_json::from_slice(&f[4..]).unwrap();
        assert_eq!(
            (&v["input"], &v["result"]),
            (&input, &serde_json::json!(true))
        );
    }

    #[test]
    fn bash_requests_are_a_header_line_and_the_code_bytes() {
        let code = "echo h\u{e9}\nls";
        let f = encode_for(
            warden_protocol::Language::Bash,
            &Request::Execute {
                id: 9,
                code,
                input: None,
                result: false,
            },
        );
        let text = String::from_utf8(f).unwrap();
        let (header, body) = text.split_once('\n').unwrap();
        assert_eq!(header, format!("9 {}", code.len()));
        assert_eq!(body, code);
        assert_eq!(body.len(), 11, "the length counts bytes, not characters");
        let python = encode_for(
            warden_protocol::Language::Python,
            &Request::Execute {
                id: 9,
                code,
                input: None,
                result: false,
            },
        );
        assert_eq!(
            python,
            encode(&Request::Execute {
                id: 9,
                code,
                input: None,
                result: false
            })
        );
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let bytes = [
            frame(r#"{"type":"pong","id":1}"#),
            frame(r#"{"type":"pong","id":2}"#),
        ]
        .concat();
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for chunk in bytes.chunks(3) {
            d.push(chunk);
            while let Some(r) = d.next_reply().unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got, vec![Reply::Pong { id: 1 }, Reply::Pong { id: 2 }]);
    }

    #[test]
    fn oversized_or_malformed_frames_are_errors() {
        let mut d = Decoder::default();
        d.push(&(u32::MAX).to_be_bytes());
        assert!(d.next_reply().is_err());
        let mut d = Decoder::default();
        d.push(&frame("not json"));
        assert!(d.next_reply().is_err());
    }

    #[test]
    fn a_result_reply_decodes() {
        let mut d = Decoder::default();
        d.push(&frame(
            r#"{"type":"result","id":3,"execution_count":2,"status":"error","value":null,
               "error":{"name":"ValueError","value":"boom","traceback":["Traceback..."]},"outputs":[]}"#,
        ));
        match d.next_reply().unwrap().unwrap() {
            Reply::Result {
                id, error: Some(e), ..
            } => {
                assert_eq!(id, 3);
                assert_eq!(e.name, "ValueError");
            }
            other => panic!("{other:?}"),
        }
    }
}
