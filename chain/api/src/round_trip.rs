//! The test every API type passes: today's exact JSON decodes, and encodes
//! back to the same JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Decodes `sample` (compact JSON with sorted keys, as the node sends it)
/// as `T`, re-encodes it and checks that nothing changed: the value, and
/// the bytes once keys are sorted.
pub(crate) fn assert_round_trip<T: Serialize + DeserializeOwned>(sample: &str) -> T {
    let decoded: T = serde_json::from_str(sample).expect("the sample decodes");
    let encoded = serde_json::to_value(&decoded).expect("the type encodes");
    let expected: Value = serde_json::from_str(sample).expect("the sample is JSON");
    assert_eq!(encoded, expected, "round trip changed the JSON");
    assert_eq!(
        serde_json::to_string(&encoded).expect("a value encodes"),
        sample,
        "round trip changed the bytes"
    );
    decoded
}
