//! Request parameters as the server decoded them, and the rules every endpoint applies to them.
//!
//! - RFC 6749 §3.1 / §3.2: "Request and response parameters MUST NOT be included more than
//!   once", so a repeated name is recorded and the endpoint answers `invalid_request`.
//! - RFC 6749 §3.1 / §3.2: "Parameters sent without a value MUST be treated as if they were
//!   omitted from the request", so an empty value reads as absent.
//! - RFC 6749 §3.3: the scope syntax, checked with oxide-auth's `Scope` parser, but kept in the
//!   order the client wrote it (oxide-auth's `Scope` is a hash set and would reorder it).

use std::collections::HashMap;
use std::str::FromStr as _;

use oxide_auth::primitives::scope::Scope;

/// Decoded query or form pairs, in the order received.
pub type Params = Vec<(String, String)>;

/// The parameters that may be repeated: `resource` (RFC 8707 §2, on authorization and token
/// requests) and `audience` (RFC 8693 §2.1). Every other repeated name is an error.
pub(crate) const REPEATABLE: [&str; 2] = ["resource", "audience"];

/// A lookup view over [`Params`] that remembers which names were repeated.
#[derive(Debug)]
pub(crate) struct ParamMap<'a> {
    values: HashMap<&'a str, &'a str>,
    /// Repeated names, in order of first repetition ([`REPEATABLE`] names never).
    duplicates: Vec<&'a str>,
    /// Every value of a [`REPEATABLE`] name, in order received.
    repeated: Vec<(&'a str, &'a str)>,
}

impl<'a> ParamMap<'a> {
    pub(crate) fn new(params: &'a [(String, String)]) -> Self {
        let mut values = HashMap::with_capacity(params.len());
        let mut duplicates = Vec::new();
        let mut repeated = Vec::new();
        for (name, value) in params {
            if REPEATABLE.contains(&name.as_str()) {
                repeated.push((name.as_str(), value.as_str()));
            }
            if values.insert(name.as_str(), value.as_str()).is_some()
                && !duplicates.contains(&name.as_str())
                && !REPEATABLE.contains(&name.as_str())
            {
                duplicates.push(name.as_str());
            }
        }
        Self {
            values,
            duplicates,
            repeated,
        }
    }

    /// Every non-empty value of a [`REPEATABLE`] parameter, in order, without repeats.
    pub(crate) fn all(&self, name: &str) -> Vec<&'a str> {
        let mut all: Vec<&'a str> = Vec::new();
        for (_, value) in self.repeated.iter().filter(|(n, _)| *n == name) {
            if !value.is_empty() && !all.contains(value) {
                all.push(value);
            }
        }
        all
    }

    /// The value, or `None` when absent or empty (RFC 6749 §3.1). A repeated name yields
    /// one of its values; callers check [`ParamMap::first_duplicate`] before trusting any.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.values.get(name).copied().filter(|v| !v.is_empty())
    }

    pub(crate) fn is_duplicated(&self, name: &str) -> bool {
        self.duplicates.contains(&name)
    }

    pub(crate) fn first_duplicate(&self) -> Option<&'a str> {
        self.duplicates.first().copied()
    }
}

/// A `scope` value split into its tokens, first occurrence order, without repeats.
/// `None` when the value breaks the RFC 6749 §3.3 syntax.
pub(crate) fn parse_scope(value: &str) -> Option<Vec<String>> {
    // Scope::from_str enforces the scope-token character set of RFC 6749 §3.3.
    Scope::from_str(value).ok()?;
    let mut tokens: Vec<String> = Vec::new();
    for token in value.split(' ').filter(|t| !t.is_empty()) {
        if !tokens.iter().any(|t| t == token) {
            tokens.push(token.to_owned());
        }
    }
    Some(tokens)
}

/// The space-separated form of a scope list (RFC 6749 §3.3).
pub(crate) fn scope_string(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub(crate) fn has_scope(scopes: &[String], wanted: &str) -> bool {
    scopes.iter().any(|s| s == wanted)
}

/// `a ⊆ b`.
pub(crate) fn is_subset(a: &[String], b: &[String]) -> bool {
    a.iter().all(|s| has_scope(b, s))
}

/// `uri` with an encoded query appended. RFC 6749 §3.1.2: a registered URI's own query "MUST
/// be retained when adding additional query parameters". Registered URIs never carry a
/// fragment (the registrar refuses them), so the query is always last.
pub(crate) fn append_query(uri: &str, query: &str) -> String {
    let mut out = uri.to_owned();
    if !out.contains('?') {
        out.push('?');
    } else if !out.ends_with('?') && !out.ends_with('&') {
        out.push('&');
    }
    out.push_str(query);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn repeated_names_are_recorded_and_empty_values_read_as_absent() {
        let p = params(&[("a", "1"), ("b", ""), ("a", "2"), ("c", "3"), ("c", "")]);
        let map = ParamMap::new(&p);
        assert!(map.is_duplicated("a"));
        assert!(map.is_duplicated("c"));
        assert!(!map.is_duplicated("b"));
        assert_eq!(map.first_duplicate(), Some("a"));
        assert_eq!(map.get("b"), None);
        assert_eq!(map.get("missing"), None);
    }

    #[test]
    fn resource_and_audience_may_repeat_and_keep_every_value() {
        let p = params(&[
            ("resource", "https://a.example/"),
            ("audience", "x"),
            ("resource", ""),
            ("resource", "https://b.example/"),
            ("resource", "https://a.example/"),
        ]);
        let map = ParamMap::new(&p);
        assert_eq!(map.first_duplicate(), None);
        assert_eq!(
            map.all("resource"),
            ["https://a.example/", "https://b.example/"]
        );
        assert_eq!(map.all("audience"), ["x"]);
        assert!(map.all("scope").is_empty());
    }

    #[test]
    fn appended_queries_keep_the_existing_one() {
        assert_eq!(append_query("https://a/cb", "x=1"), "https://a/cb?x=1");
        assert_eq!(
            append_query("https://a/cb?k=v", "x=1"),
            "https://a/cb?k=v&x=1"
        );
        assert_eq!(append_query("https://a/cb?", "x=1"), "https://a/cb?x=1");
    }

    #[test]
    fn scope_keeps_order_drops_repeats_and_rejects_bad_characters() {
        assert_eq!(
            parse_scope("openid  email openid profile"),
            Some(vec!["openid".into(), "email".into(), "profile".into()])
        );
        assert_eq!(parse_scope(""), Some(vec![]));
        assert_eq!(parse_scope("open\"id"), None);
        assert_eq!(parse_scope("a\\b"), None);
        assert_eq!(parse_scope("é"), None);
    }
}
