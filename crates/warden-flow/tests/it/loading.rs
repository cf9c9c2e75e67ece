//! Loading definitions from JSON and YAML.

use std::path::Path;

use warden_flow::definition::{DefinitionError, NodeConfig};
use warden_flow::Workflow;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/valid")
        .join(name)
}

#[test]
fn yaml_and_json_load_to_equal_workflows() {
    let json = Workflow::from_path(&fixture("word_count.json")).unwrap();
    let yaml = Workflow::from_path(&fixture("word_count.yaml")).unwrap();
    assert_eq!(json, yaml);
    let typed_json: Vec<NodeConfig> = json.nodes.iter().map(|n| n.typed().unwrap()).collect();
    let typed_yaml: Vec<NodeConfig> = yaml.nodes.iter().map(|n| n.typed().unwrap()).collect();
    assert_eq!(typed_json, typed_yaml);
}

#[test]
fn serializing_round_trips() {
    for name in [
        "nested_loops.json",
        "http_fetch.yaml",
        "chat_with_memory.json",
    ] {
        let wf = Workflow::from_path(&fixture(name)).unwrap();
        let text = serde_json::to_string(&wf).unwrap();
        assert_eq!(Workflow::from_json(&text).unwrap(), wf, "{name}");
        for node in &wf.nodes {
            let typed = node.typed().unwrap();
            // Typed configs serialize back to configs that type to the same value.
            let again = match &typed {
                NodeConfig::Code(c) => serde_json::to_value(c),
                NodeConfig::Loop(c) => serde_json::to_value(c),
                NodeConfig::Http(c) => serde_json::to_value(c),
                NodeConfig::Model(c) => serde_json::to_value(c),
                NodeConfig::Memory(c) => serde_json::to_value(c),
                NodeConfig::Variable(c) => serde_json::to_value(c),
                _ => continue,
            }
            .unwrap();
            let reparsed = warden_flow::Node {
                config: again,
                ..node.clone()
            }
            .typed()
            .unwrap();
            assert_eq!(reparsed, typed, "{name}: {}", node.id);
        }
    }
}

#[test]
fn loading_errors() {
    assert!(matches!(
        Workflow::from_path(Path::new("flow.toml")),
        Err(DefinitionError::UnknownExtension { .. })
    ));
    assert!(matches!(
        Workflow::from_path(Path::new("/nonexistent/flow.yaml")),
        Err(DefinitionError::Io { .. })
    ));
    assert!(matches!(
        Workflow::from_json(r#"{"name": "x", "nodes": [], "colour": 1}"#),
        Err(DefinitionError::Json(_))
    ));
    assert!(matches!(
        Workflow::from_yaml("name: [unclosed"),
        Err(DefinitionError::Yaml(_))
    ));
    // A node's config is not typed at load time: unknown types and bad configs still load.
    let wf = Workflow::from_yaml(
        "name: x\nnodes:\n  - {id: a, type: teleport, config: {to: mars}}\n  - {id: b, type: delay, config: {ms: soon}}\n",
    )
    .unwrap();
    assert_eq!(wf.version, 1);
    assert!(wf.nodes[0].typed().is_err() && wf.nodes[1].typed().is_err());
}
