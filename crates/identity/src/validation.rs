//! Registration input rules: the shape of usernames and emails, and password strength in the
//! spirit of NIST SP 800-63B §5.1.1.2 (length over composition, and no commonly used passwords).

use std::collections::HashSet;
use std::sync::LazyLock;

/// Which input was rejected and why, in words fit to show the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

pub(crate) const USERNAME_MIN_CHARS: usize = 3;
pub(crate) const USERNAME_MAX_CHARS: usize = 64;
/// RFC 5321's limit on a forward path, less the angle brackets.
pub(crate) const EMAIL_MAX_CHARS: usize = 254;
pub(crate) const PASSWORD_MIN_CHARS: usize = 12;
pub(crate) const PASSWORD_MAX_CHARS: usize = 128;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// 3–64 characters from `A–Z a–z 0–9 . _ -`: nothing that could be confused with an email
/// address or need escaping in a URL.
pub fn validate_username(username: &str) -> Result<(), FieldError> {
    let length = username.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&length) {
        return Err(FieldError::new(
            "username",
            format!("must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters long"),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !username.chars().all(allowed) {
        return Err(FieldError::new(
            "username",
            "may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(())
}

/// A syntax check only (deliverability is for a confirmation email to prove): one `@`, a
/// non-empty local part, a dotted domain, no whitespace, at most 254 characters.
pub fn validate_email(email: &str) -> Result<(), FieldError> {
    let invalid = || FieldError::new("email", "is not a valid email address");
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(FieldError::new(
            "email",
            format!("must be at most {EMAIL_MAX_CHARS} characters long"),
        ));
    }
    if email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid());
    };
    let domain_ok = domain.contains('.')
        && !domain.contains('@')
        && domain.split('.').all(|label| !label.is_empty());
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(())
}

/// 12–128 characters (not bytes) and not one of the 10,000 most common passwords, compared
/// case-insensitively.
pub fn validate_password(password: &str) -> Result<(), FieldError> {
    let length = password.chars().count();
    if length < PASSWORD_MIN_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must be at least {PASSWORD_MIN_CHARS} characters long"),
        ));
    }
    if length > PASSWORD_MAX_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must be at most {PASSWORD_MAX_CHARS} characters long"),
        ));
    }
    if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
        return Err(FieldError::new(
            "password",
            "is too common; choose a less predictable one",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_list_is_loaded_in_full() {
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
        assert!(COMMON_PASSWORDS.contains("password"));
    }

    #[test]
    fn usernames() {
        for ok in ["bob", "Alice.Smith_99", "a-b", &"x".repeat(64)] {
            assert_eq!(validate_username(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            "",
            &"x".repeat(65),
            "has space",
            "at@sign",
            "ünïcode",
            "semi;colon",
        ] {
            let err = validate_username(bad).unwrap_err();
            assert_eq!(err.field, "username", "{bad}");
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "用户@例子.广告",
        ] {
            assert_eq!(validate_email(ok), Ok(()), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@localhost",
            "a@@example.com",
            "a@b@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@.example.com",
            "a@example.com.",
            "a@example..com",
            &long,
        ] {
            let err = validate_email(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        // Eleven two-byte characters: 22 bytes, still too short.
        assert!(validate_password(&"é".repeat(11)).is_err());
        assert_eq!(validate_password(&"é".repeat(12)), Ok(()));
        assert_eq!(validate_password(&"é".repeat(128)), Ok(()));
        assert!(validate_password(&"é".repeat(129)).is_err());
    }

    #[test]
    fn common_passwords_are_rejected_in_any_case() {
        let listed = COMMON_PASSWORDS
            .iter()
            .find(|p| p.chars().count() >= PASSWORD_MIN_CHARS && p.chars().any(char::is_alphabetic))
            .unwrap();
        for attempt in [listed.to_string(), listed.to_uppercase()] {
            let err = validate_password(&attempt).unwrap_err();
            assert_eq!(err.field, "password");
            assert!(err.message.contains("common"), "{}", err.message);
        }
        assert_eq!(validate_password("plume-atlas-47-quietly"), Ok(()));
    }
}
