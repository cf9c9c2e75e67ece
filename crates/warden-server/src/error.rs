//! The one error-to-HTTP mapping. Every error leaves as
//! `{"error": {"code": "...", "message": "..."}}`; 5xx bodies hide internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use warden_engine::EngineError;
use warden_protocol::{ErrorBody, ErrorCode, ErrorContext};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 replies).
    pub retry_after: Option<u64>,
    /// Where a syntax error is, the findings behind a security violation (boxed: most
    /// errors have none, and the error travels in every handler's `Result`).
    pub context: Box<ErrorContext>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            context: Box::default(),
        }
    }

    /// The error as it goes on the wire.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::with_context(self.code, self.message.clone(), (*self.context).clone())
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidPath
            | ErrorCode::SyntaxError
            | ErrorCode::WorkflowInvalid => StatusCode::BAD_REQUEST,
            ErrorCode::SecurityViolation
            | ErrorCode::PathForbidden
            | ErrorCode::Forbidden
            | ErrorCode::PolicyDenied
            | ErrorCode::PackageNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::RateLimited | ErrorCode::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NotFound
            | ErrorCode::SessionNotFound
            | ErrorCode::FileNotFound
            | ErrorCode::ExecutionNotFound
            | ErrorCode::TemplateNotFound
            | ErrorCode::WorkflowNotFound
            | ErrorCode::RunNotFound
            | ErrorCode::CollectionNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::SessionBusy | ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::SessionDead => StatusCode::GONE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable | ErrorCode::RuntimeNotFound | ErrorCode::SandboxSetupFailed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Timeout
            | ErrorCode::MemoryLimit
            | ErrorCode::CpuLimit
            | ErrorCode::Killed
            | ErrorCode::ExecutionError
            | ErrorCode::EgressLimit
            | ErrorCode::PackageInstallFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = e.code();
        let retry_after = e
            .retry_after()
            .map(|d| d.as_secs_f64().ceil().max(1.0) as u64);
        // Internal details stay in the server log.
        let message = if code == ErrorCode::Internal {
            eprintln!("warden: internal error: {e}");
            "internal error".to_string()
        } else {
            e.to_string()
        };
        ApiError {
            code,
            message,
            retry_after,
            context: Box::new(e.context()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
