//! Function-calling tools over HTTP: definitions in both formats, and tool calls as a
//! model emits them round-tripped into the messages each API expects.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::serve::{create, Server};
use crate::tenancy::call;

fn openai_call(id: &str, name: &str, args: Value) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
}

async fn call_tool(s: &Server, query: &str, body: Value) -> (StatusCode, Value) {
    let (code, _, v) = call(
        s,
        None,
        Method::POST,
        &format!("/v1/tools/call?{query}"),
        Some(body),
    )
    .await;
    (code, v)
}

#[tokio::test]
async fn definitions_come_in_openai_and_anthropic_formats() {
    let mut s = Server::start(&[]);
    let (code, _, v) = call(&s, None, Method::GET, "/v1/tools?format=openai", None).await;
    assert_eq!(code, StatusCode::OK);
    let tools = v["tools"].as_array().unwrap();
    let python = tools
        .iter()
        .find(|t| t["function"]["name"] == "execute_python")
        .unwrap();
    assert_eq!(python["type"], "function");
    let props = &python["function"]["parameters"]["properties"];
    assert!(
        props["code"].is_object() && props["packages"].is_object() && props["timeout"].is_object()
    );
    assert!(python["function"]["description"]
        .as_str()
        .unwrap()
        .contains("no network"));

    let (_, _, v) = call(&s, None, Method::GET, "/v1/tools?format=anthropic", None).await;
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
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
    assert!(v["tools"][0]["input_schema"]["properties"]["code"].is_object());

    let (code, _, v) = call(&s, None, Method::GET, "/v1/tools?format=gemini", None).await;
    assert_eq!(
        (code, &v["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("INVALID_REQUEST"))
    );
    s.stop();
}

#[tokio::test]
async fn openai_tool_calls_round_trip_with_state_images_and_errors() {
    let mut s = Server::start(&[]);
    // One-shot (no session).
    let (code, v) = call_tool(
        &s,
        "format=openai",
        openai_call("call_1", "execute_python", json!({"code": "print(6 * 7)"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let m = &v["messages"][0];
    assert_eq!(
        (m["role"].as_str(), m["tool_call_id"].as_str()),
        (Some("tool"), Some("call_1"))
    );
    assert!(
        m["content"].as_str().unwrap().contains("stdout:\n42\n"),
        "{m}"
    );

    // In a session: state persists between calls.
    let id = create(&s, json!({})).await;
    let q = format!("format=openai&session_id={id}");
    call_tool(
        &s,
        &q,
        openai_call("c2", "execute_python", json!({"code": "x = 41"})),
    )
    .await;
    let (_, v) = call_tool(
        &s,
        &q,
        openai_call("c3", "execute_python", json!({"code": "x + 1"})),
    )
    .await;
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("result:\n42"),
        "{v}"
    );

    // A plot: the image follows the tool message in a user message.
    let plot = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])";
    let (_, v) = call_tool(
        &s,
        &q,
        openai_call("c4", "execute_python", json!({"code": plot})),
    )
    .await;
    let messages = v["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{v}");
    assert_eq!(messages[1]["role"], "user");
    let url = messages[1]["content"][1]["image_url"]["url"]
        .as_str()
        .unwrap();
    assert!(
        url.starts_with("data:image/png;base64,iVBOR"),
        "{}",
        &url[..40]
    );

    // The code raising, and a policy or syntax refusal, are the tool's output.
    let (code, v) = call_tool(
        &s,
        &q,
        openai_call("c5", "execute_python", json!({"code": "1/0"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError"),
        "{v}"
    );
    let (_, v) = call_tool(
        &s,
        &q,
        openai_call("c6", "execute_python", json!({"code": "def f(:"})),
    )
    .await;
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("error [SYNTAX_ERROR]"),
        "{v}"
    );

    // Files, in the session.
    let (_, v) = call_tool(
        &s,
        &q,
        openai_call(
            "c7",
            "write_file",
            json!({"path": "notes/a.txt", "content": "hello"}),
        ),
    )
    .await;
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("wrote notes/a.txt"),
        "{v}"
    );
    let (_, v) = call_tool(
        &s,
        &q,
        openai_call("c8", "read_file", json!({"path": "notes/a.txt"})),
    )
    .await;
    assert_eq!(v["messages"][0]["content"], "hello");
    let (_, v) = call_tool(
        &s,
        &q,
        openai_call(
            "c9",
            "execute_python",
            json!({"code": "open('notes/a.txt').read()"}),
        ),
    )
    .await;
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("'hello'"),
        "{v}"
    );
    let (_, v) = call_tool(&s, &q, openai_call("c10", "list_files", json!({}))).await;
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("notes"),
        "{v}"
    );
    // ... which need a session.
    let (_, v) = call_tool(
        &s,
        "format=openai",
        openai_call("c11", "read_file", json!({"path": "a"})),
    )
    .await;
    assert!(
        v["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("error [INVALID_REQUEST]"),
        "{v}"
    );
    // An unknown tool and a missing argument are the model's mistakes: told, not 4xx.
    let (code, v) = call_tool(&s, "format=openai", openai_call("c12", "rm_rf", json!({}))).await;
    assert_eq!(code, StatusCode::OK);
    assert!(v["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("no tool named 'rm_rf'"));

    // A call that is not a tool call at all is a 400.
    let (code, v) = call_tool(&s, "format=openai", json!({"name": "execute_python"})).await;
    assert_eq!(
        (code, &v["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("INVALID_REQUEST"))
    );
    s.stop();
}

#[tokio::test]
async fn anthropic_tool_calls_round_trip() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let q = format!("format=anthropic&session_id={id}");
    let use_block = |id: &str, code: &str| json!({"type": "tool_use", "id": id, "name": "execute_python", "input": {"code": code}});
    let (code, v) = call_tool(
        &s,
        &q,
        use_block(
            "toolu_1",
            "import matplotlib.pyplot as plt\nplt.bar([1], [2])\nprint('drawn')",
        ),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let messages = v["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
    let result = &messages[0]["content"][0];
    assert_eq!(
        (result["type"].as_str(), result["tool_use_id"].as_str()),
        (Some("tool_result"), Some("toolu_1"))
    );
    assert_eq!(result["is_error"], false);
    assert!(result["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("drawn"));
    assert_eq!(result["content"][1]["type"], "image");
    assert_eq!(result["content"][1]["source"]["media_type"], "image/png");

    let (_, v) = call_tool(
        &s,
        &q,
        use_block("toolu_2", "raise ValueError('bad input')"),
    )
    .await;
    let result = &v["messages"][0]["content"][0];
    assert_eq!(result["is_error"], true, "{v}");
    assert!(result["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("ValueError: bad input"));
    s.stop();
}
