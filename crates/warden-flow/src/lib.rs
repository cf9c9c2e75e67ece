//! Workflows: node graphs whose steps are sandboxed code, branches, loops, requests and
//! model calls. This crate holds what needs no runtime: the definition types
//! ([`definition`]), validation before a run ([`validate`]), the state path syntax
//! ([`path`]), the safe expression language ([`expr`]) and string templates
//! ([`template`]), and the runner core ([`runner`]), whose side effects are behind
//! traits, and the compiler to a standalone Python program, a bundle around it or a
//! normalized `warden_flow` file ([`compile`]).
//!
//! ```
//! use warden_flow::{validate, Workflow};
//!
//! let wf = Workflow::from_yaml(r#"
//! name: double
//! inputs: [x]
//! nodes:
//!   - {id: start, type: start}
//!   - {id: double, type: variable, config: {set: {doubled: "inputs.x * 2"}}}
//!   - {id: end, type: end, config: {output: {value: doubled}}}
//! edges:
//!   - {source: start, target: double}
//!   - {source: double, target: end}
//! "#).unwrap();
//! assert!(validate(&wf).is_ok());
//!
//! let state = serde_json::json!({"inputs": {"x": 21}});
//! let value = warden_flow::expr::eval_str("inputs.x * 2", &state).unwrap();
//! assert_eq!(value, serde_json::json!(42));
//! ```

pub mod compile;
pub mod definition;
pub mod expr;
pub mod path;
pub mod runner;
pub mod template;
pub mod validate;

pub use compile::{bundle, compile_python, warden_file};
pub use definition::{DefinitionError, Edge, Node, NodeConfig, NodeType, Workflow};
pub use expr::{eval, parse, Expr, ExprError, ParseError};
pub use path::StatePath;
pub use runner::{
    run, Clock, CodeOutcome, CodeRequest, CodeRunner, Failure, Host, Limits, NoServices, NodeError,
    RunEvent, RunResult, RunStatus, Services, SystemClock, TraceEntry,
};
pub use template::Template;
pub use validate::{codes, validate, Problem};
