use super::*;

fn email_error(input: &str) -> FieldError {
    match Email::parse(input) {
        Ok(email) => panic!("{input:?} was accepted as {email:?}"),
        Err(err) => err,
    }
}

#[test]
fn the_common_list_is_loaded_in_full() {
    // 10,000 lines, a few of which differ only in ASCII case.
    assert!(COMMON_PASSWORDS.len() > 9_900, "{}", COMMON_PASSWORDS.len());
    assert!(COMMON_PASSWORDS.contains("password"));
}

#[test]
fn usernames() {
    for ok in ["bob", "Alice.Smith_99", "a-b", &"x".repeat(64)] {
        assert_eq!(
            Username::parse(ok).map(Username::into_string),
            Ok(ok.to_owned())
        );
    }
    for bad in [
        "ab",
        "",
        &"x".repeat(65),
        "has space",
        " bob",
        "bob ",
        "at@sign",
        "ünïcode",
        "semi;colon",
        "bob\0",
        "bo\u{200B}b",
    ] {
        let err = Username::parse(bad).unwrap_err();
        assert_eq!(err.field, "username", "{bad:?}");
    }
}

#[test]
fn emails() {
    for ok in [
        "a@b.co",
        "first.last+tag@mail.example.org",
        "o'hara!#$%&*/=?^_`{|}~-@example.com",
        "用户@例子.广告",
        "josé@ñandú.example",
        "¿qué@example.com",
        "user@xn--bcher-kva.example",
        "a@b-.c",
    ] {
        assert_eq!(Email::parse(ok).map(Email::into_string), Ok(ok.to_owned()));
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
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "\"quoted\"@example.com",
        "a,b@example.com",
        "a@exa_mple.com",
        "a@例子。广告",
        "a@ex¿ample.com",
        " alice@example.com",
        "alice@example.com ",
        &long,
    ] {
        let err = email_error(bad);
        assert_eq!(err.field, "email", "{bad:?}");
    }
}

/// The cases: each made a second account that looked like the first.
#[test]
fn control_format_and_invisible_characters_are_refused_by_name() {
    for (input, named) in [
        ("alice@example.com\u{0}", "U+0000"),
        ("ali\u{0}ce@example.com", "U+0000"),
        ("alice@exam\u{200B}ple.com", "U+200B"),
        ("alice\u{200C}@example.com", "U+200C"),
        ("alice\u{200D}@example.com", "U+200D"),
        ("alice\u{2060}@example.com", "U+2060"),
        ("\u{FEFF}alice@example.com", "U+FEFF"),
        ("alice@example.com\u{202E}", "U+202E"),
        ("alice\u{2066}@example.com", "U+2066"),
        ("alice\u{00AD}@example.com", "U+00AD"),
        ("alice\u{034F}@example.com", "U+034F"),
        ("alice\u{3164}@example.com", "U+3164"),
        ("alice\u{FE0F}@example.com", "U+FE0F"),
        ("alice\u{00A0}@example.com", "U+00A0"),
        ("alice\u{3000}@example.com", "U+3000"),
        ("alice\u{2028}@example.com", "U+2028"),
        ("alice\u{7F}@example.com", "U+007F"),
        ("alice\u{85}@example.com", "U+0085"),
        ("alice\t@example.com", "U+0009"),
        ("alice\u{2800}@example.com", "U+2800"),
        ("alice\u{FFFD}@example.com", "U+FFFD"),
        ("alice\u{E000}@example.com", "U+E000"),
        ("ａlice@example.com", "U+FF41"),
        ("alice\u{1F600}@example.com", "U+1F600"),
    ] {
        let err = email_error(input);
        assert_eq!(err.field, "email");
        assert!(err.message.contains(named), "{input:?}: {}", err.message);
    }
}

#[test]
fn emails_are_stored_in_nfc() {
    let decomposed = "jose\u{301}@example.com";
    let precomposed = "jos\u{E9}@example.com";
    let email = Email::parse(decomposed).unwrap();
    assert_eq!(email.as_str(), precomposed);
    assert_eq!(Email::parse(precomposed).unwrap(), email);
    assert_eq!(
        Email::parse("A\u{30A}ngstro\u{308}m@example.com")
            .unwrap()
            .as_str(),
        "\u{C5}ngstr\u{F6}m@example.com"
    );
    // Characters NFC would replace on their own are refused rather than rewritten: U+037E
    // GREEK QUESTION MARK would be stored as `;`, which an address may not hold.
    for replaced in ["\u{212B}ngstrom@example.com", "what\u{37E}@example.com"] {
        assert_eq!(email_error(replaced).field, "email", "{replaced:?}");
    }
}

#[test]
fn login_lookup_keys_are_nfc_and_never_hold_controls() {
    assert_eq!(
        login_lookup_key("jose\u{301}@example.com").as_deref(),
        Some("jos\u{E9}@example.com")
    );
    assert_eq!(login_lookup_key("bob").as_deref(), Some("bob"));
    for unusable in ["", "bob\0", "\0", "bo\u{1B}b", "bob\u{85}"] {
        assert_eq!(login_lookup_key(unusable), None, "{unusable:?}");
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

/// Exactly what `email_pattern` (with the length limits) accepts, `Email::parse` accepts: over
/// every BMP character in the local part and in the domain, and over random strings of the
/// characters that matter to the rules.
#[test]
fn the_email_pattern_agrees_with_the_validator() {
    let pattern = regex::Regex::new(email_pattern()).unwrap();
    let schema_accepts = |s: &str| {
        (EMAIL_MIN_CHARS..=EMAIL_MAX_CHARS).contains(&s.chars().count()) && pattern.is_match(s)
    };
    let check = |s: &str| {
        assert_eq!(
            schema_accepts(s),
            Email::parse(s).is_ok(),
            "schema and validator disagree on {s:?}"
        );
    };
    for c in (0..=0xFFFF).filter_map(char::from_u32) {
        check(&format!("a{c}b@example.com"));
        check(&format!("a@ex{c}ample.com"));
    }
    let alphabet = [
        'a',
        'Z',
        '0',
        '.',
        '@',
        '-',
        '+',
        '!',
        '"',
        ',',
        '(',
        ' ',
        '\0',
        '\n',
        '\u{200B}',
        '\u{FEFF}',
        '\u{202E}',
        'é',
        '\u{301}',
        '用',
        '\u{3002}',
        '\u{FF21}',
        '\u{1F600}',
        '¿',
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..50_000 {
        let length = usize::try_from(next() % 12).unwrap();
        let s: String = (0..length)
            .map(|_| alphabet[usize::try_from(next()).unwrap() % alphabet.len()])
            .collect();
        check(&s);
        check(&format!("{s}@example.com"));
        check(&format!("a@{s}.com"));
    }
    for length in [253, 254, 255] {
        check(&format!("{}@example.com", "a".repeat(length - 12)));
    }
}

#[test]
fn the_username_pattern_agrees_with_the_validator() {
    let pattern = regex::Regex::new(USERNAME_PATTERN).unwrap();
    for c in (0..=0xFFFF).filter_map(char::from_u32) {
        let s = format!("ab{c}");
        assert_eq!(pattern.is_match(&s), Username::parse(&s).is_ok(), "{s:?}");
    }
}

#[test]
fn the_common_password_pattern_matches_exactly_the_refused_ones() {
    let common = regex::Regex::new(common_password_pattern()).unwrap();
    let schema_accepts = |s: &str| {
        (PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&s.chars().count())
            && !common.is_match(s)
    };
    let mut checked = 0;
    for listed in COMMON_PASSWORDS.iter() {
        for attempt in [
            listed.clone(),
            listed.to_ascii_uppercase(),
            format!("{listed}!"),
            format!("x{listed}"),
        ] {
            assert_eq!(
                schema_accepts(&attempt),
                validate_password(&attempt).is_ok(),
                "{attempt:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40_000);
    assert!(!schema_accepts("111111111111"));
    assert!(!schema_accepts("PassWord1234"));
    assert!(schema_accepts("plume-atlas-47-quietly"));
}
