//! warden's HTTP transport. Handlers parse, call one engine function and map the result;
//! errors become HTTP statuses in one place ([`ApiError`]).

mod console;
mod error;
mod flow_routes;
mod routes;
mod stream;
mod ws;

pub use error::ApiError;
pub use routes::{openapi, router};
