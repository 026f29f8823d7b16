//! The claim sets Gatehouse signs.
//!
//! Access tokens follow the JWT profile of RFC 9068 §2.2 (`iss`, `exp`, `aud`, `sub`,
//! `client_id`, `iat`, `jti`, plus `auth_time` and the `scope` of §2.2.3). ID tokens follow
//! OIDC Core §2. Logout tokens follow OpenID Connect Back-Channel Logout 1.0 §2.4. Timestamps are `i64` Unix seconds, so serde writes JSON integers: RFC 7519
//! §2 NumericDate allows fractions, but many relying parties reject them (josekit's own
//! `set_expires_at` writes floats, which is why we never use it).
//!
//! `aud` is a list in Rust. RFC 7519 §4.1.3 allows a string or an array on the wire; we write a
//! single audience as a plain string (what most clients expect of an ID token) and accept both.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    pub client_id: String,
    /// Space-separated (RFC 6749 §3.3); left out of the token when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// Gatehouse's own claim: the grant (one authorization, with its code and refresh tokens) a
    /// user's access token belongs to, so that revoking the grant revokes its access tokens at
    /// introspection and userinfo.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grant_id: Option<String>,
    /// Gatehouse's own claim: the epoch of the session store the token was issued under. A store
    /// that lost its state (and with it the revocation markers) has a new epoch, so tokens
    /// naming an old one are refused at introspection and userinfo instead of coming back to
    /// life. `None` only in tokens minted by other code (tests, older releases).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_epoch: Option<String>,
    /// RFC 8693 §4.1: the party acting for `sub` (delegation), `{"sub": ...}`, nesting the
    /// `act` of a token that was itself delegated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub act: Option<Value>,
    /// The organisation of the sign-in, with scope `organization`: `org_id`, `org_slug`,
    /// `org_roles`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub org_slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub org_roles: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amr: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub azp: Option<String>,
    /// Further claims (`email`, `name`, ...). Must not repeat a field above:
    /// [`mint_id_token`](crate::mint_id_token) refuses, since the JSON would hold the key twice.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `events` member of a logout token (Back-Channel Logout 1.0 §2.4): a JSON object whose
/// one member, [`BACKCHANNEL_LOGOUT_EVENT`], is an empty object.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogoutEvents {
    #[serde(rename = "http://schemas.openid.net/event/backchannel-logout")]
    pub backchannel_logout: EmptyObject,
}

/// Serializes as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmptyObject {}

/// The member name of [`LogoutEvents`] (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token (Back-Channel Logout 1.0 §2.4). It has no `nonce` field on purpose: §2.4
/// says a logout token MUST NOT contain one, and a type without the field cannot carry it.
/// At least one of `sub` and `sid` must be present;
/// [`mint_logout_token`](crate::mint_logout_token) refuses otherwise.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    pub iat: i64,
    /// §2.4 recommends a lifetime of at most two minutes.
    pub exp: i64,
    /// Fresh for every delivery attempt: relying parties may refuse a `jti` they have seen.
    pub jti: String,
    pub events: LogoutEvents,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
}

/// Claim names that are fields of [`IdTokenClaims`] and so may not appear in `extra`.
pub(crate) const ID_TOKEN_FIELDS: [&str; 11] = [
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "sid",
    "azp",
];

/// A fresh `jti` (RFC 7519 §4.1.7): 128 bits from the thread-local CSPRNG, base64url.
pub fn new_jti() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// `aud` as a string when there is one audience, an array otherwise; either when reading.
pub(crate) mod audience {
    use std::fmt;

    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serialize as _, Serializer};

    pub fn serialize<S: Serializer>(aud: &[String], serializer: S) -> Result<S::Ok, S::Error> {
        match aud {
            [single] => serializer.serialize_str(single),
            many => many.serialize(serializer),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        deserializer.deserialize_any(AudienceVisitor)
    }

    struct AudienceVisitor;

    impl<'de> Visitor<'de> for AudienceVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of strings")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(vec![value.to_owned()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1));
            while let Some(value) = seq.next_element::<String>()? {
                out.push(value);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id_claims(aud: &[&str]) -> IdTokenClaims {
        IdTokenClaims {
            iss: "https://issuer.example".into(),
            sub: "user-1".into(),
            aud: aud.iter().map(|a| a.to_string()).collect(),
            iat: 1_700_000_000,
            exp: 1_700_000_300,
            auth_time: None,
            nonce: Some("n-0S6_WzA2Mj".into()),
            at_hash: None,
            amr: None,
            sid: None,
            azp: None,
            extra: Map::from_iter([("email".to_string(), json!("a@example.com"))]),
        }
    }

    #[test]
    fn single_audience_is_a_string_and_several_are_an_array() {
        let one = serde_json::to_value(id_claims(&["client-a"])).unwrap();
        assert_eq!(one["aud"], json!("client-a"));
        let two = serde_json::to_value(id_claims(&["client-a", "client-b"])).unwrap();
        assert_eq!(two["aud"], json!(["client-a", "client-b"]));
    }

    #[test]
    fn none_fields_are_left_out_and_extra_is_flattened() {
        let value = serde_json::to_value(id_claims(&["client-a"])).unwrap();
        let object = value.as_object().unwrap();
        for absent in ["auth_time", "at_hash", "amr", "sid", "azp", "extra"] {
            assert!(!object.contains_key(absent), "{absent}");
        }
        assert_eq!(object["email"], json!("a@example.com"));
        assert_eq!(object["nonce"], json!("n-0S6_WzA2Mj"));
    }

    #[test]
    fn both_audience_forms_parse_back() {
        for claims in [
            id_claims(&["client-a"]),
            id_claims(&["client-a", "client-b"]),
        ] {
            let json = serde_json::to_string(&claims).unwrap();
            assert_eq!(
                serde_json::from_str::<IdTokenClaims>(&json).unwrap(),
                claims
            );
        }
    }

    #[test]
    fn logout_events_are_one_member_holding_an_empty_object() {
        assert_eq!(
            serde_json::to_value(LogoutEvents::default()).unwrap(),
            json!({BACKCHANNEL_LOGOUT_EVENT: {}})
        );
        assert!(
            serde_json::from_value::<LogoutEvents>(json!({"other": {}})).is_err(),
            "the event member is required"
        );
    }

    #[test]
    fn jti_is_128_random_bits() {
        let a = new_jti();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 16);
        assert_ne!(a, new_jti());
    }
}
