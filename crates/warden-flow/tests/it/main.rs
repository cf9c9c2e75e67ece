//! Integration tests of warden-flow: the fixture workflows, valid and invalid, and
//! specific validation rules.

mod fixtures;
mod loading;
mod validation;
