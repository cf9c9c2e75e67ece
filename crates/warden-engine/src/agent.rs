//! The interpreter agents, embedded in the binary and placed read-only in each session's
//! sandbox under `/run/warden`.

use warden_jail::{Command, Runtime};
use warden_protocol::Language;

/// The Python agent (see `runtimes/python/agent.py`).
pub const PYTHON_AGENT: &str = include_str!("../../../runtimes/python/agent.py");

/// A command that starts the agent for a language; the caller adds the protocol
/// descriptors (requests on fd 3, replies on fd 4) and limits.
pub fn agent_command(language: Language) -> Option<Command> {
    match language {
        Language::Python => Some(Command::for_runtime(&Runtime::python(), PYTHON_AGENT)),
        Language::Javascript | Language::Bash => None,
    }
}
