//! `ApiError`, the one error type of the HTTP layer: an HTTP status, a stable machine-readable
//! code and a human message, rendered as `{"error":{"code":"...","message":"..."}}`.
//!
//! It owns the list of error codes clients may rely on and the mapping of store failures onto
//! them. It must not do I/O, and a message must never carry a secret (tokens, database URLs):
//! store errors are already scrubbed by the store, and auth errors never echo the header.

use aivex_store::StoreError;
use serde_json::json;

/// Every error code Eye answers with. Stable: clients and monitoring match on them.
pub const CODES: &[&str] = &[
    "bad_request",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "misdirected_request",
    "payload_too_large",
    "unsupported_media_type",
    "malformed_json",
    "invalid_field",
    "invalid_query",
    "uri_too_long",
    "headers_too_large",
    "request_timeout",
    "length_required",
    "not_implemented",
    "too_many_streams",
    "overloaded",
    "store_unavailable",
    "state_unavailable",
    "internal",
];

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", m)
    }
    pub fn invalid_query(m: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_query", m)
    }
    pub fn invalid_field(field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::new(422, "invalid_field", format!("field {field}: {why}"))
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        json!({"error": {"code": self.code, "message": self.message}}).to_string()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Constraint(_) | StoreError::InvalidValue(_) => {
                ApiError::new(422, "invalid_field", e.to_string())
            }
            // A schema mismatch or bad URL is the operator's to fix; to a client it is the
            // same as a store that is down, and 503 tells monitoring to look.
            _ => ApiError::new(503, "store_unavailable", e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape_and_store_mapping() {
        let e = ApiError::invalid_field("outcome", "must be one of hit, miss, flat");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap_or_default();
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(
            v["error"]["message"],
            "field outcome: must be one of hit, miss, flat"
        );
        let table = [
            (
                StoreError::Unavailable("x".into()),
                503,
                "store_unavailable",
            ),
            (StoreError::Constraint("x".into()), 422, "invalid_field"),
            (StoreError::BadUrl("x".into()), 503, "store_unavailable"),
        ];
        for (se, status, code) in table {
            let e = ApiError::from(se);
            assert_eq!((e.status, e.code), (status, code));
            assert!(CODES.contains(&e.code));
        }
    }
}
