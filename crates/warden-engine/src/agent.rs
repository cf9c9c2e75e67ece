//! The interpreter agents, embedded in the binary and placed read-only in each session's
//! sandbox under `/run/warden`.

use warden_jail::{Command, Runtime};
use warden_protocol::Language;

/// The Python agent (see `runtimes/python/agent.py`).
pub const PYTHON_AGENT: &str = include_str!("../../../runtimes/python/agent.py");
/// The JavaScript agent (see `runtimes/javascript/agent.js`).
pub const JAVASCRIPT_AGENT: &str = include_str!("../../../runtimes/javascript/agent.js");
/// The bash agent (see `runtimes/bash/agent.sh`).
pub const BASH_AGENT: &str = include_str!("../../../runtimes/bash/agent.sh");

/// A command that starts the agent for a language; the caller adds the protocol
/// descriptors (requests on fd 3, replies on fd 4) and limits.
pub fn agent_command(language: Language) -> Command {
    match language {
        Language::Python => Command::for_runtime(&Runtime::python(), PYTHON_AGENT),
        Language::Javascript => {
            let mut runtime = Runtime::javascript();
            // Node's REPL helper for top-level await lives among its internals.
            runtime.args.insert(0, "--expose-internals".into());
            Command::for_runtime(&runtime, JAVASCRIPT_AGENT)
        }
        Language::Bash => Command::for_runtime(&Runtime::bash(), BASH_AGENT),
    }
}
