//! Authentication context classes (OIDC Core §2 `acr`, §3.1.2.1 `acr_values`) and what they
//! demand of a browser session's authentication methods (`amr`, RFC 8176).
//!
//! Two levels: a password alone, and a password with a second factor (TOTP or a recovery code).
//! A client asks for the second by registering `require_2fa`, or per request with
//! `acr_values` naming [`MULTI_FACTOR`]; a session without it is stepped up before a code is
//! issued. Discovery lists both in `acr_values_supported`; ID tokens carry the level reached.

/// A password alone.
pub const PASSWORD: &str = "urn:gatehouse:acr:pwd";
/// A password and a second factor.
pub const MULTI_FACTOR: &str = "urn:gatehouse:acr:mfa";
/// `acr_values_supported`, lowest first.
pub const SUPPORTED: [&str; 2] = [PASSWORD, MULTI_FACTOR];

/// The `amr` value (RFC 8176 §2) a multi-factor sign-in carries.
const MFA_METHOD: &str = "mfa";

/// Whether a session with these methods passed a second factor.
pub fn is_multi_factor(amr: &[String]) -> bool {
    amr.iter().any(|method| method == MFA_METHOD)
}

/// The level a session with these methods reached (the ID token's `acr`).
pub fn of_amr(amr: &[String]) -> &'static str {
    if is_multi_factor(amr) {
        MULTI_FACTOR
    } else {
        PASSWORD
    }
}

/// Whether an `acr_values` request parameter (space-separated, in order of preference) asks
/// for the multi-factor level. Values we do not know are ignored: `acr_values` is a voluntary
/// request (OIDC Core §5.5.1.1), answered with the level actually reached.
pub fn requests_multi_factor(acr_values: Option<&str>) -> bool {
    acr_values.is_some_and(|values| values.split(' ').any(|value| value == MULTI_FACTOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amr(methods: &[&str]) -> Vec<String> {
        methods.iter().map(|m| (*m).to_owned()).collect()
    }

    #[test]
    fn the_level_follows_the_methods() {
        assert_eq!(of_amr(&amr(&["pwd"])), PASSWORD);
        assert_eq!(of_amr(&amr(&["pwd", "otp", "mfa"])), MULTI_FACTOR);
        assert_eq!(of_amr(&[]), PASSWORD);
    }

    #[test]
    fn only_the_multi_factor_value_asks_for_a_second_factor() {
        assert!(requests_multi_factor(Some(MULTI_FACTOR)));
        assert!(requests_multi_factor(Some(&format!(
            "{PASSWORD} {MULTI_FACTOR}"
        ))));
        assert!(!requests_multi_factor(Some(PASSWORD)));
        assert!(!requests_multi_factor(Some("urn:other:loa:3")));
        assert!(!requests_multi_factor(None));
    }
}
