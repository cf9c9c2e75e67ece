//! The jail's functional suite again, every sandbox on the gVisor tier (`runsc`). A test
//! whose expectation differs under gVisor says why where it branches on [`TIER`]. Needs
//! root and runsc (`apt-get install runsc`; CI installs it).

#[path = "../it/functional.rs"]
mod functional;

use warden_jail::Tier;

pub const TIER: Tier = Tier::Gvisor;

include!("../it/common.rs");
