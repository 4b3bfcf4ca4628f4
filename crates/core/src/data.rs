//! Member data: a JSON object, kept as its serialized text.
//!
//! Data is written rarely (join, update) and read often (every snapshot), so it is stored
//! pre-serialized and shared: a snapshot splices the text in without re-encoding it.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Why member data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The data was valid JSON but not an object.
    #[error("member data must be a JSON object")]
    NotAnObject,
    /// The serialized data was over the size limit.
    #[error("member data is {len} bytes; the limit is {max}")]
    TooLarge {
        /// Serialized size of the refused data, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
}

/// A member's data: a JSON object, at most a configured number of bytes when serialized.
#[derive(Clone, Debug)]
pub struct MemberData(Arc<RawValue>);

impl MemberData {
    /// The empty object `{}`.
    #[must_use]
    pub fn empty() -> Self {
        Self::from_object(&Map::new())
    }

    /// Validates an already-parsed value.
    ///
    /// # Errors
    /// [`DataError::NotAnObject`] or [`DataError::TooLarge`].
    pub fn from_value(value: &Value, max_bytes: usize) -> Result<Self, DataError> {
        let Value::Object(map) = value else {
            return Err(DataError::NotAnObject);
        };
        let data = Self::from_object(map);
        data.check_size(max_bytes)?;
        Ok(data)
    }

    fn from_object(map: &Map<String, Value>) -> Self {
        // Serializing a `Map` of `Value`s cannot fail: every key is a string.
        #[allow(clippy::expect_used)]
        let raw = serde_json::value::to_raw_value(map).expect("a JSON map always serializes");
        Self(Arc::from(raw))
    }

    fn check_size(&self, max_bytes: usize) -> Result<(), DataError> {
        let len = self.0.get().len();
        if len > max_bytes {
            return Err(DataError::TooLarge {
                len,
                max: max_bytes,
            });
        }
        Ok(())
    }

    /// Applies a JSON merge patch (RFC 7396) and validates the result.
    ///
    /// # Errors
    /// [`DataError::NotAnObject`] when the patch is not an object (a non-object merge patch would
    /// replace the data with a non-object), or [`DataError::TooLarge`] for the result.
    pub fn merge_patch(&self, patch: &Value, max_bytes: usize) -> Result<Self, DataError> {
        if !patch.is_object() {
            return Err(DataError::NotAnObject);
        }
        let mut current = self.to_value();
        apply_merge_patch(&mut current, patch);
        Self::from_value(&current, max_bytes)
    }

    /// The data as a parsed JSON value.
    #[must_use]
    pub fn to_value(&self) -> Value {
        // The text was produced by serde_json from a map, so it always parses back.
        #[allow(clippy::expect_used)]
        serde_json::from_str(self.0.get()).expect("member data is valid JSON")
    }

    /// Data that was validated once and kept as JSON text elsewhere (by a shared engine such
    /// as Redis), taken back without re-serializing it.
    ///
    /// # Errors
    /// [`DataError::NotAnObject`] when `text` is not a JSON object.
    pub fn from_json(text: &str) -> Result<Self, DataError> {
        let raw = RawValue::from_string(text.to_owned()).map_err(|_| DataError::NotAnObject)?;
        if !raw.get().starts_with('{') {
            return Err(DataError::NotAnObject);
        }
        Ok(Self(Arc::from(raw)))
    }

    /// The serialized JSON text.
    #[must_use]
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for MemberData {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for MemberData {}

impl Serialize for MemberData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// RFC 7396: objects merge key by key, `null` deletes a key, anything else replaces.
fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                apply_merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_objects_within_the_limit_are_member_data() {
        assert!(MemberData::from_value(&json!({"name": "Ann"}), 100).is_ok());
        assert_eq!(
            MemberData::from_value(&json!([1]), 100),
            Err(DataError::NotAnObject)
        );
        assert_eq!(
            MemberData::from_value(&json!({"a": "xxxxxxxx"}), 10),
            Err(DataError::TooLarge { len: 16, max: 10 })
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let data = MemberData::from_value(
            &json!({"status": "online", "pos": {"x": 1, "y": 2}, "drop": true}),
            1000,
        )
        .unwrap();
        let patched = data
            .merge_patch(
                &json!({"status": "away", "pos": {"y": 3}, "drop": null}),
                1000,
            )
            .unwrap();
        assert_eq!(
            patched.to_value(),
            json!({"status": "away", "pos": {"x": 1, "y": 3}})
        );
        assert_eq!(
            data.merge_patch(&json!("x"), 1000),
            Err(DataError::NotAnObject)
        );
    }
}
