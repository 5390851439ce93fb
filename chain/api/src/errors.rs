//! The body of every `4xx`/`5xx` answer: `{"error": "..."}`, naming what
//! is wrong.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_trip::assert_round_trip;

    #[test]
    fn error_body_round_trips() {
        let body: ErrorBody = assert_round_trip(
            r#"{"error":"bad block id \"zzz\": expected \"latest\", a height or a 64-hex block hash"}"#,
        );
        assert!(body.error.starts_with("bad block id"));
    }
}
