//! The one error-to-HTTP mapping. Every error leaves as
//! `{"error": {"code": "...", "message": "..."}}`; 5xx bodies hide internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use warden_engine::EngineError;
use warden_protocol::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidRequest | ErrorCode::InvalidPath => StatusCode::BAD_REQUEST,
            ErrorCode::PathForbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::SessionNotFound | ErrorCode::FileNotFound => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::SessionBusy => StatusCode::CONFLICT,
            ErrorCode::SessionDead => StatusCode::GONE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable | ErrorCode::RuntimeNotFound | ErrorCode::SandboxSetupFailed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Timeout
            | ErrorCode::MemoryLimit
            | ErrorCode::CpuLimit
            | ErrorCode::Killed
            | ErrorCode::ExecutionError => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = e.code();
        // Internal details stay in the server log.
        let message = if code == ErrorCode::Internal {
            eprintln!("warden: internal error: {e}");
            "internal error".to_string()
        } else {
            e.to_string()
        };
        ApiError { code, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(ErrorBody::new(self.code, self.message))).into_response()
    }
}
