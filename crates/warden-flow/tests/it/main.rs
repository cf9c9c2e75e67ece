//! Integration tests of warden-flow: the fixture workflows, valid and invalid, and
//! specific validation rules, the runner core with fakes, and compiled code-node timeouts.

mod compile;
mod fixtures;
mod loading;
mod runner;
mod validation;
