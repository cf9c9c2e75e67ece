//! warden's domain: sessions — a sandbox running a long-lived interpreter agent — and
//! the protocol spoken with the agents. Transports (HTTP, MCP, CLI) call into this crate
//! and hold no logic of their own.

pub mod agent;
pub mod doctor;
pub mod egress;
pub mod error;
pub mod files;
pub mod flows;
pub mod index_proxy;
pub mod installer;
pub mod llm_tools;
pub mod manager;
pub mod metrics;
pub mod notebook;
pub mod packages;
pub mod protocol;
pub mod records;
pub mod screening;
pub mod session;
pub mod templates;
pub mod tenancy;
pub mod tools;
pub mod workflows;

pub use error::EngineError;
pub use files::{FileEntry, FileError, Workspace};
pub use manager::{Engine, EngineConfig, PoolSizes};
pub use session::{
    CellResult, CellStatus, Environment, Event, Session, SessionLimits, TemplateMount,
};
pub use tenancy::{Caller, Policy};
pub use warden_store::{AuditFilter, ExecutionFilter, RunFilter};
