//! Integration tests of warden-flow: the fixture workflows, valid and invalid, and
//! specific validation rules, and the runner core with fakes.

mod fixtures;
mod loading;
mod runner;
mod validation;
