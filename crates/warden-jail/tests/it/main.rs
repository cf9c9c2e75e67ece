//! Integration tests of the jail. They start real sandboxes and need root (as CI has).
//!
//! Attack programs run only *inside* sandboxes: nothing here probes the host itself.

mod containment;
mod functional;
mod gvisor_tier;

use warden_jail::Tier;

/// The isolation these suites run on (the `gvisor` test binary runs them again on gVisor).
pub const TIER: Tier = Tier::Namespaces;

include!("common.rs");
