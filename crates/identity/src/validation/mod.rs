//! The account input rules, in one place for every surface that creates or finds an account (the
//! REST API, `gatehouse user create`, the sign-up page and admin API to come, the login form):
//! usernames, emails, and password strength in the spirit of NIST SP 800-63B §5.1.1.2 (length
//! over composition, and no commonly used passwords).
//!
//! Parse, don't validate: a [`Username`] or an [`Email`] can only be built by its `parse`, so
//! whatever holds one holds a checked, normalised value.
//!
//! - **Checked as received, stored as NFC.** The rules apply to the text exactly as the client
//!   sent it (which is what the OpenAPI schema can describe); the stored form is its Unicode NFC
//!   normalisation, so `e` + U+0301 and the precomposed `é` are one address. The admitted
//!   characters are closed under NFC (see `charset`), so the stored form obeys the rules too.
//! - **No trimming.** Leading or trailing whitespace is refused, not silently removed: what a
//!   client sends is what is stored or refused, with no third outcome for a schema to describe.
//!   A form meant for people may trim before it calls in (the login page does).
//! - **Nothing invisible.** Controls, format characters (zero-width spaces and joiners, U+FEFF,
//!   bidi controls), separators and other blank or ignorable characters are refused, so two
//!   addresses that look the same are the same account.
//!
//! [`email_pattern`], [`USERNAME_PATTERN`] and [`common_password_pattern`] spell these rules as
//! JSON Schema patterns, generated from the same definitions the checks use.

mod charset;

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

use charset::{DOMAIN_NON_ASCII, LOCAL_PART_NON_ASCII, is_ascii_atext, is_ascii_label_char};

/// Which input was rejected and why, in words fit to show the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 64;
/// The username alphabet as a JSON Schema pattern; the length is `minLength`/`maxLength`.
pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9._-]+$";
/// The shortest address the syntax allows: `a@b.c`.
pub const EMAIL_MIN_CHARS: usize = 5;
/// RFC 5321's limit on a forward path, less the angle brackets.
pub const EMAIL_MAX_CHARS: usize = 254;
pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A checked username: 3–64 characters of `A–Z a–z 0–9 . _ -`, nothing that could be confused
/// with an email address or need escaping in a URL. ASCII only, so already in NFC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Username, FieldError> {
        let length = input.chars().count();
        if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&length) {
            return Err(FieldError::new(
                "username",
                format!("must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters long"),
            ));
        }
        if !input.chars().all(is_username_char) {
            return Err(FieldError::new(
                "username",
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Username(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A checked email address, in NFC. A syntax check only (deliverability is for a confirmation
/// email to prove), at most 254 characters:
/// - the local part is a dot-atom (RFC 5322 §3.2.3): runs of ASCII `atext` (letters, digits
///   and ``!#$%&'*+/=?^_`{|}~-``) or visible non-ASCII letters, marks, digits, punctuation and
///   symbols (RFC 6531), separated by single dots; no quoted strings;
/// - the domain is at least two dot-separated, non-empty labels of ASCII letters, digits and
///   hyphens or non-ASCII letters, marks and digits;
/// - non-ASCII characters as `charset` admits them (assigned, visible, not compatibility forms,
///   in the BMP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, FieldError> {
        if input.chars().count() > EMAIL_MAX_CHARS {
            return Err(FieldError::new(
                "email",
                format!("must be at most {EMAIL_MAX_CHARS} characters long"),
            ));
        }
        // Named, so the person can find a character they cannot see.
        if let Some(c) = input
            .chars()
            .find(|&c| !(c.is_ascii_graphic() || LOCAL_PART_NON_ASCII.contains(c)))
        {
            return Err(FieldError::new(
                "email",
                format!(
                    "must not contain U+{:04X}: spaces, control and invisible characters, \
                     compatibility forms and characters beyond U+FFFF are not allowed",
                    u32::from(c)
                ),
            ));
        }
        let invalid = || FieldError::new("email", "is not a valid email address");
        let Some((local, domain)) = input.split_once('@') else {
            return Err(invalid());
        };
        let local_ok = local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_local_part_char));
        let labels = domain.split('.');
        let domain_ok = labels.clone().count() >= 2
            && labels
                .into_iter()
                .all(|label| !label.is_empty() && label.chars().all(is_domain_char));
        if !(local_ok && domain_ok) {
            return Err(invalid());
        }
        Ok(Email(input.nfc().collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ASCII `atext` of RFC 5322 §3.2.3, as it appears inside a regex character class.
const ASCII_ATEXT_CLASS: &str = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-";
/// Letters, digits and hyphen, as they appear inside a regex character class.
const ASCII_LABEL_CLASS: &str = r"A-Za-z0-9\-";

fn is_local_part_char(c: char) -> bool {
    is_ascii_atext(c) || LOCAL_PART_NON_ASCII.contains(c)
}

fn is_domain_char(c: char) -> bool {
    is_ascii_label_char(c) || DOMAIN_NON_ASCII.contains(c)
}

/// The address rules of [`Email`] as one JSON Schema `pattern` (ECMA-262 and Python `re`
/// alike). The length limits are `minLength`/`maxLength`.
pub fn email_pattern() -> &'static str {
    static PATTERN: LazyLock<String> = LazyLock::new(|| {
        let local = format!("[{ASCII_ATEXT_CLASS}{}]", LOCAL_PART_NON_ASCII.class_body());
        let label = format!("[{ASCII_LABEL_CLASS}{}]", DOMAIN_NON_ASCII.class_body());
        format!(r"^{local}+(?:\.{local}+)*@{label}+(?:\.{label}+)+$")
    });
    &PATTERN
}

/// The form a login name is looked up in, or `None` when it cannot name any account: NFC (as
/// stored), and free of control characters, which no stored username or email holds (and which
/// Postgres cannot even compare: it refuses a NUL in text). Lenient otherwise, so accounts made
/// under older, looser rules can still sign in.
pub(crate) fn login_lookup_key(login: &str) -> Option<String> {
    if login.is_empty() || login.chars().any(char::is_control) {
        return None;
    }
    Some(login.nfc().collect())
}

/// The shipped list of 10,000 common passwords, ASCII-lowercased; compared with an
/// ASCII-lowercased password, so "PASSWORD1234" is refused like "password1234" and the rule has
/// an exact JSON Schema spelling ([`common_password_pattern`]).
static COMMON_PASSWORDS: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
});

/// 12–128 characters (not bytes) and not one of the 10,000 most common passwords, compared
/// ASCII-case-insensitively. Any character is allowed: the password is only ever hashed.
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
    if COMMON_PASSWORDS.contains(&password.to_ascii_lowercase()) {
        return Err(FieldError::new(
            "password",
            "is too common; choose a less predictable one",
        ));
    }
    Ok(())
}

/// A pattern matching exactly the common passwords a password of allowed length could be, in
/// any ASCII case (`[Pp][Aa]…`): the schema's `not`, so that a schema-valid password is never
/// refused as common.
pub fn common_password_pattern() -> &'static str {
    static PATTERN: LazyLock<String> = LazyLock::new(|| {
        let alternatives: Vec<String> = COMMON_PASSWORDS
            .iter()
            .filter(|p| (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&p.chars().count()))
            .map(|p| p.chars().map(case_insensitive_literal).collect())
            .collect();
        format!("^(?:{})$", alternatives.join("|"))
    });
    &PATTERN
}

/// One character as a regex atom that both cases of an ASCII letter match.
fn case_insensitive_literal(c: char) -> String {
    if c.is_ascii_alphabetic() {
        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
    } else if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        // `\uXXXX` for the rest: never a metacharacter, in any of the dialects.
        let mut escaped = String::new();
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            let _ = write!(escaped, "\\u{unit:04X}");
        }
        escaped
    }
}

/// [`Username::parse`], for callers that only need the verdict.
pub fn validate_username(username: &str) -> Result<(), FieldError> {
    Username::parse(username).map(drop)
}

/// [`Email::parse`], for callers that only need the verdict.
pub fn validate_email(email: &str) -> Result<(), FieldError> {
    Email::parse(email).map(drop)
}

#[cfg(test)]
mod tests;
