//! The non-ASCII characters an email address may contain, as explicit code point ranges.
//!
//! The validator tests membership in these ranges and the OpenAPI `pattern` is written from the
//! same ranges, so the published schema and the server cannot disagree about a character.
//!
//! Admitted: assigned letters, marks and digits (`L`, `M`, `N`; plus punctuation and symbols, `P`
//! and `S`, in the local part) of the Basic Multilingual Plane. Refused, beyond every other
//! category (controls `Cc`, format characters `Cf` such as U+200B..U+200D, U+2060, U+FEFF and the
//! bidi controls, separators `Z*`, surrogates, private use, unassigned code points):
//! - default-ignorable code points, which render as nothing (U+034F, the Hangul fillers, the
//!   variation selectors);
//! - U+2800 BRAILLE PATTERN BLANK, U+FFFC and U+FFFD, which look blank or mark lost text;
//! - compatibility characters (those NFKC would rewrite: full-width forms, ligatures,
//!   superscripts), which pass for the plain letters they stand for;
//! - characters NFC replaces on their own (U+212B ANGSTROM SIGN, U+037E GREEK QUESTION MARK,
//!   which is `;`): the address is stored in NFC, and the stored form must obey these rules too;
//! - everything outside the BMP: a JSON Schema `pattern` has no spelling for such code points
//!   that both ECMA-262 and Python's `re` read the same way, and no real mailbox needs them yet.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};
use unicode_normalization::UnicodeNormalization;

/// Sorted, disjoint, inclusive ranges of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CharSet {
    ranges: Vec<(char, char)>,
}

impl CharSet {
    /// The characters of a `regex-syntax` class expression that are stable under NFC, are not
    /// compatibility characters, and decompose only into characters of the set or `ascii` ones.
    /// An expression that does not parse to a class (a bug caught by the tests) yields the empty
    /// set, which refuses every non-ASCII character rather than admitting any.
    fn from_class(expression: &str, ascii: fn(char) -> bool) -> CharSet {
        let parsed = regex_syntax::Parser::new().parse(expression);
        let Ok(HirKind::Class(Class::Unicode(class))) = parsed.as_ref().map(|hir| hir.kind())
        else {
            return CharSet { ranges: Vec::new() };
        };
        let candidates = CharSet::from_sorted_chars(
            class
                .ranges()
                .iter()
                .flat_map(|range| range.start()..=range.end())
                .filter(|&c| is_nfc_on_its_own(c) && !is_compatibility_character(c)),
        );
        // `≮` is `<` + U+0338 canonically: NFC may leave that pair apart, and `<` is no `atext`.
        let decomposes_within = |c: char| {
            std::iter::once(c)
                .nfd()
                .all(|part| part == c || ascii(part) || candidates.contains(part))
        };
        CharSet::from_sorted_chars(candidates.chars().filter(|&c| decomposes_within(c)))
    }

    fn from_sorted_chars(chars: impl Iterator<Item = char>) -> CharSet {
        let mut ranges: Vec<(char, char)> = Vec::new();
        for c in chars {
            match ranges.last_mut() {
                Some((_, end)) if u32::from(*end) + 1 == u32::from(c) => *end = c,
                _ => ranges.push((c, c)),
            }
        }
        CharSet { ranges }
    }

    pub(crate) fn contains(&self, c: char) -> bool {
        self.ranges
            .binary_search_by(|&(start, end)| {
                if end < c {
                    std::cmp::Ordering::Less
                } else if start > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// The ranges as the inside of a regex character class, `\uXXXX-\uXXXX…`: a spelling that
    /// ECMA-262 (with or without the `u` flag), Python's `re` and Rust's `regex` all read alike.
    pub(crate) fn class_body(&self) -> String {
        let mut body = String::new();
        for &(start, end) in &self.ranges {
            // Writing to a String cannot fail.
            let _ = if start == end {
                write!(body, "\\u{:04X}", u32::from(start))
            } else {
                write!(
                    body,
                    "\\u{:04X}-\\u{:04X}",
                    u32::from(start),
                    u32::from(end)
                )
            };
        }
        body
    }

    pub(crate) fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.ranges.iter().flat_map(|&(start, end)| start..=end)
    }
}

/// Whether NFC leaves `c` alone. Those it replaces (singletons such as U+212B ANGSTROM SIGN,
/// U+037E GREEK QUESTION MARK, which becomes `;`, and composition exclusions) are refused: the
/// stored NFC form must obey the same rules as the text that was checked.
fn is_nfc_on_its_own(c: char) -> bool {
    std::iter::once(c).nfc().eq(std::iter::once(c))
}

/// Whether NFKC rewrites `c` where NFC would not: `ﬁ`, `Ａ`, `²`, `ｶ` and the like.
fn is_compatibility_character(c: char) -> bool {
    !std::iter::once(c).nfkd().eq(std::iter::once(c).nfd())
}

/// The ASCII `atext` of RFC 5322 §3.2.3: what a local part's dot-atoms are made of, with
/// [`LOCAL_PART_NON_ASCII`].
pub(crate) fn is_ascii_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

/// ASCII letters, digits and hyphen: what domain labels are made of, with [`DOMAIN_NON_ASCII`].
pub(crate) fn is_ascii_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// What may follow the ASCII `atext` of RFC 5322 §3.2.3 in a local part (RFC 6531 §3.3
/// `UTF8-non-ascii`, narrowed as the module says).
pub(crate) static LOCAL_PART_NON_ASCII: LazyLock<CharSet> = LazyLock::new(|| {
    CharSet::from_class(
        r"[[[\p{L}\p{M}\p{N}\p{P}\p{S}]&&[\x{80}-\x{FFFF}]]--[\p{Default_Ignorable_Code_Point}\x{2800}\x{FFFC}\x{FFFD}]]",
        is_ascii_atext,
    )
});

/// What may join the ASCII letters, digits and hyphen of a domain label: letters, marks and
/// digits only, as in an IDNA U-label. Punctuation stays out, so U+3002 IDEOGRAPHIC FULL STOP,
/// which IDNA reads as a dot, cannot hide a second spelling of a domain.
pub(crate) static DOMAIN_NON_ASCII: LazyLock<CharSet> = LazyLock::new(|| {
    CharSet::from_class(
        r"[[[\p{L}\p{M}\p{N}]&&[\x{80}-\x{FFFF}]]--[\p{Default_Ignorable_Code_Point}\x{2800}\x{FFFC}\x{FFFD}]]",
        is_ascii_label_char,
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    fn nfd(c: char) -> Vec<char> {
        std::iter::once(c).nfd().collect()
    }

    #[test]
    fn the_sets_are_built_and_exclude_what_they_promise() {
        for set in [&*LOCAL_PART_NON_ASCII, &*DOMAIN_NON_ASCII] {
            assert!(set.ranges.len() > 100, "{} ranges", set.ranges.len());
            for letter in ['é', 'ß', 'ж', '用', '例', 'ก', '\u{0301}', 'Ω'] {
                assert!(set.contains(letter), "{letter:?}");
            }
            for refused in [
                '\u{0000}',
                '\u{007F}',
                '\u{0085}',
                '\u{00A0}',
                '\u{00AD}',
                '\u{034F}',
                '\u{061C}',
                '\u{115F}',
                '\u{180E}',
                '\u{200B}',
                '\u{200C}',
                '\u{200D}',
                '\u{200E}',
                '\u{2028}',
                '\u{202E}',
                '\u{2060}',
                '\u{2066}',
                '\u{2800}',
                '\u{3000}',
                '\u{3164}',
                '\u{D7FF}',
                '\u{E000}',
                '\u{FE0F}',
                '\u{FEFF}',
                '\u{FF21}',
                '\u{FB01}',
                '\u{037E}',
                '\u{212B}',
                '\u{FFA0}',
                '\u{FFFC}',
                '\u{FFFD}',
                '\u{FFFF}',
                '\u{1F600}',
                '\u{E0041}',
                'a',
                '@',
                '.',
            ] {
                assert!(!set.contains(refused), "U+{:04X}", u32::from(refused));
            }
        }
        assert!(LOCAL_PART_NON_ASCII.contains('¿'));
        assert!(!DOMAIN_NON_ASCII.contains('¿'));
        assert!(!DOMAIN_NON_ASCII.contains('\u{3002}'));
    }

    #[test]
    fn membership_agrees_with_the_ranges() {
        let set = CharSet::from_sorted_chars(['b', 'c', 'd', 'x'].into_iter());
        assert_eq!(set.ranges, vec![('b', 'd'), ('x', 'x')]);
        assert_eq!(set.class_body(), r"\u0062-\u0064\u0078");
        for (c, inside) in [
            ('a', false),
            ('b', true),
            ('d', true),
            ('e', false),
            ('x', true),
        ] {
            assert_eq!(set.contains(c), inside, "{c}");
        }
    }

    /// The validator checks the text as received and the store keeps its NFC form, so NFC must
    /// never turn admitted characters into refused ones: every admitted character decomposes into
    /// admitted ones, and no refused composite can be composed from admitted ones.
    #[test]
    fn nfc_never_leaves_the_sets() {
        assert_closed_under_nfc(&LOCAL_PART_NON_ASCII, is_ascii_atext);
        assert_closed_under_nfc(&DOMAIN_NON_ASCII, is_ascii_label_char);
    }

    fn assert_closed_under_nfc(set: &CharSet, ascii: fn(char) -> bool) {
        let admitted = |c: char| ascii(c) || set.contains(c);
        for c in set.chars() {
            for part in std::iter::once(c).nfc().chain(nfd(c)) {
                assert!(
                    admitted(part),
                    "U+{:04X} normalises to refused U+{:04X}",
                    u32::from(c),
                    u32::from(part)
                );
            }
        }
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let composes = std::iter::once(c).nfc().eq(std::iter::once(c));
            let decomposed = nfd(c);
            if composes && decomposed != [c] && !admitted(c) {
                assert!(
                    !decomposed.iter().all(|&part| admitted(part)),
                    "refused U+{:04X} is composed from admitted characters",
                    u32::from(c)
                );
            }
        }
    }
}
