//! The one conversion between API lists (`Vec<String>`) and the JSON-array TEXT columns that hold
//! them on both backends.

use crate::error::IdentityError;

pub(crate) fn to_json_array<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|item| serde_json::Value::from(item.as_ref()))
        .collect::<serde_json::Value>()
        .to_string()
}

/// `what` names the column for the error, e.g. "client abc: redirect_uris".
pub(crate) fn from_json_array(stored: &str, what: &str) -> Result<Vec<String>, IdentityError> {
    serde_json::from_str(stored).map_err(|err| {
        IdentityError::Corrupt(format!("{what} is not a JSON array of strings: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_including_characters_json_must_escape() {
        let items = ["plain", "quote\"d", "back\\slash", "ünï", ""];
        let stored = to_json_array(&items);
        assert_eq!(from_json_array(&stored, "test").unwrap(), items);
        assert_eq!(to_json_array::<&str>(&[]), "[]");
    }

    #[test]
    fn anything_but_an_array_of_strings_is_corrupt() {
        for stored in ["", "{}", "[1]", "\"a\"", "[\"a\""] {
            let err = from_json_array(stored, "client x: scopes").unwrap_err();
            assert!(matches!(err, IdentityError::Corrupt(_)), "{stored}: {err}");
            assert!(err.to_string().contains("client x: scopes"));
        }
    }
}
