//! Teardown: nothing of a sandbox outlives it on the host.
