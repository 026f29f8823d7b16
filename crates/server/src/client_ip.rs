//! The client's IP address and scheme, the one value everything that records or limits by IP uses
//! (audit events, the sessions list, rate limits, log lines).
//!
//! Only when the TCP peer is in `server.trusted_proxies` are the forwarding headers read; from any
//! other peer they are ignored, since any client can write them:
//!
//! - `Forwarded` (RFC 7239 §4): its `for=` nodes (§6: an IPv4 address, a quoted `"[IPv6]"`,
//!   either with an optional port) and `proto=`. Preferred when present.
//! - Otherwise `X-Forwarded-For` (comma-separated addresses, one appended per proxy) and
//!   `X-Forwarded-Proto`.
//!
//! **Rightmost untrusted wins.** The list of hops is read from the right (the peer, then the
//! address the nearest proxy saw, and so on): trusted addresses are skipped, and the first
//! address that is not trusted is the client. Everything left of it was written by that client
//! and proves nothing. If every hop is trusted, the leftmost one is the client (a request from
//! inside the proxies' own network).
//!
//! **Malformed headers fall back to the peer.** An unparseable header, a node that is `unknown`
//! or obfuscated (RFC 7239 §6.2, §6.3), a `Forwarded` element without `for=`, or a parameter
//! repeated in an element (§4) — anything the walk cannot trust — yields the peer's own address:
//! all such clients then share the proxy's address, which is safe (never an address a client
//! chose) if coarse.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are read as the IPv4 address they carry, so a
//! dual-stack socket and an IPv4 proxy list agree.

use std::fmt;
use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// `server.trusted_proxies`: the networks whose forwarding headers are believed. Empty (the
/// default): none are, and the client is always the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses one entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a bare address (a /32 or /128).
    fn parse_entry(entry: &str) -> Result<IpNet, String> {
        let entry = entry.trim();
        if let Ok(net) = entry.parse::<IpNet>() {
            return Ok(net.trunc());
        }
        entry
            .parse::<IpAddr>()
            .map(|ip| IpNet::from(ip.to_canonical()))
            .map_err(|_| format!("{entry:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"))
    }

    /// A comma-separated list, as `GATEHOUSE__SERVER__TRUSTED_PROXIES` carries it; blank entries
    /// are skipped, so `""` is the empty list.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        list.split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(Self::parse_entry)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// A TOML string (comma-separated, as from the environment) or an array of strings.
impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = TrustedProxies;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of CIDRs, as an array or a comma-separated string")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                TrustedProxies::parse_list(value).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut nets = Vec::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    nets.extend(
                        TrustedProxies::parse_list(&entry)
                            .map_err(de::Error::custom)?
                            .0,
                    );
                }
                Ok(TrustedProxies(nets))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// Where a request came from, after the forwarding headers a trusted peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    pub ip: IpAddr,
    /// The scheme the client used, when a trusted proxy said so (`proto=` / X-Forwarded-Proto).
    pub https: Option<bool>,
}

/// One hop of the forwarding chain: the address a proxy saw, and the scheme it was reached by.
struct Hop {
    ip: IpAddr,
    proto: Option<String>,
}

/// The client behind `peer` given the request's headers: see the module documentation.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> ClientOrigin {
    let peer = peer.to_canonical();
    let direct = ClientOrigin {
        ip: peer,
        https: None,
    };
    if trusted.is_empty() || !trusted.contains(peer) {
        return direct;
    }
    let hops = if headers.contains_key("forwarded") {
        forwarded_hops(headers)
    } else if headers.contains_key("x-forwarded-for") {
        x_forwarded_hops(headers)
    } else {
        // A trusted proxy that forwards no client address: the proxy may still say the scheme.
        return ClientOrigin {
            ip: peer,
            https: single_proto(headers).map(|proto| proto.eq_ignore_ascii_case("https")),
        };
    };
    let Some(hops) = hops.filter(|hops| !hops.is_empty()) else {
        return direct;
    };
    // Rightmost untrusted wins; if every hop is trusted, the leftmost.
    let chosen = hops
        .iter()
        .rev()
        .find(|hop| !trusted.contains(hop.ip))
        .or_else(|| hops.first());
    match chosen {
        Some(hop) => ClientOrigin {
            ip: hop.ip,
            https: hop
                .proto
                .as_deref()
                .map(|proto| proto.eq_ignore_ascii_case("https")),
        },
        None => direct,
    }
}

/// The values of every `name` header line, joined as one list (RFC 9110 §5.3).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut all = String::new();
    for value in headers.get_all(name) {
        if !all.is_empty() {
            all.push(',');
        }
        all.push_str(value.to_str().ok()?);
    }
    Some(all)
}

/// `X-Forwarded-For` entries, each paired with the `X-Forwarded-Proto` entry at the same
/// position from the right when both lists have that entry, or with its only value when
/// `X-Forwarded-Proto` has one (what a TLS-terminating edge proxy usually sets).
fn x_forwarded_hops(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let list = joined(headers, "x-forwarded-for")?;
    let ips = list
        .split(',')
        .map(|entry| parse_address(entry.trim()))
        .collect::<Option<Vec<_>>>()?;
    let protos: Vec<String> = match joined(headers, "x-forwarded-proto") {
        Some(protos) if !protos.is_empty() => {
            protos.split(',').map(|p| p.trim().to_owned()).collect()
        }
        _ => Vec::new(),
    };
    let count = ips.len();
    Some(
        ips.into_iter()
            .enumerate()
            .map(|(index, ip)| {
                let from_right = count - 1 - index;
                let proto = match protos.len() {
                    0 => None,
                    1 => protos.first().cloned(),
                    n => n
                        .checked_sub(1 + from_right)
                        .and_then(|i| protos.get(i))
                        .cloned(),
                };
                Hop { ip, proto }
            })
            .collect(),
    )
}

/// `X-Forwarded-Proto` when it holds exactly one value.
fn single_proto(headers: &HeaderMap) -> Option<String> {
    let protos = joined(headers, "x-forwarded-proto")?;
    let protos = protos.trim();
    (!protos.is_empty() && !protos.contains(',')).then(|| protos.to_owned())
}

/// An address as `X-Forwarded-For` writers put it: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:443`.
fn parse_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || valid_port(after.strip_prefix(':')?)) {
            return None;
        }
        return inside
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    let (host, port) = entry.split_once(':')?;
    if !valid_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn valid_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// The hops of `Forwarded` (RFC 7239 §4): one per element, `None` if any element is malformed
/// or names no usable `for=` node.
fn forwarded_hops(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let value = joined(headers, "forwarded")?;
    let elements = parse_forwarded(&value)?;
    elements
        .into_iter()
        .map(|pairs| {
            let mut node = None;
            let mut proto = None;
            for (name, value) in pairs {
                let slot = match name.as_str() {
                    "for" => &mut node,
                    "proto" => &mut proto,
                    _ => continue,
                };
                // §4: a parameter MUST NOT occur more than once per element.
                if slot.replace(value).is_some() {
                    return None;
                }
            }
            // §6: "unknown" and obfuscated nodes (`_hidden`) are no address to use.
            let ip = parse_address(&node?)?;
            Some(Hop { ip, proto })
        })
        .collect()
}

/// Splits a `Forwarded` value into elements of `(lowercased name, value)` pairs, unquoting
/// quoted-strings (RFC 9110 §5.6.4). `None` on anything outside the grammar.
fn parse_forwarded(value: &str) -> Option<Vec<Vec<(String, String)>>> {
    let mut elements = Vec::new();
    let mut pairs = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some(',') => {
                chars.next();
                elements.push(std::mem::take(&mut pairs));
                continue;
            }
            Some(';') => {
                chars.next();
                continue;
            }
            Some(_) => {}
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if is_tchar(c) {
                name.push(c.to_ascii_lowercase());
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c if c.is_control() => return None,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if is_tchar(c) {
                    value.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if value.is_empty() {
                return None;
            }
        }
        pairs.push((name, value));
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if !matches!(chars.peek(), None | Some(',') | Some(';')) {
            return None;
        }
    }
    elements.push(pairs);
    // An empty element (`for=a,,for=b`) is legal in the list syntax but says nothing: skip it.
    elements.retain(|pairs| !pairs.is_empty());
    Some(elements)
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Where `req` came from, with `server.trusted_proxies` from the app's settings (no settings in
/// reach, e.g. a bare test request: the peer).
pub fn client_origin(req: &HttpRequest) -> Option<ClientOrigin> {
    let peer = req.peer_addr()?.ip();
    let origin = match req.app_data::<actix_web::web::Data<crate::app::AppState>>() {
        Some(state) => resolve(peer, req.headers(), &state.settings.server.trusted_proxies),
        None => ClientOrigin {
            ip: peer.to_canonical(),
            https: None,
        },
    };
    Some(origin)
}

/// The client's IP address: the TCP peer, or what a trusted proxy says (module documentation).
/// Works for a `ServiceRequest` through `ServiceRequest::request()`.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    client_origin(req).map(|origin| origin.ip)
}

/// Whether the client reached us over https: the connection's own scheme, or what a trusted
/// TLS-terminating proxy says in `Forwarded: proto=` / `X-Forwarded-Proto`.
pub fn client_used_https(req: &HttpRequest) -> bool {
    client_origin(req)
        .and_then(|origin| origin.https)
        // Not `connection_info()`: actix fills that from forwarding headers of any peer.
        .unwrap_or_else(|| req.app_config().secure())
}

/// The subject a per-IP limit counts under: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber usually holds a whole /64, so per-address counting would not limit anyone).
pub fn rate_limit_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            format!(
                "{:x}:{:x}:{:x}:{:x}::/64",
                segments[0], segments[1], segments[2], segments[3]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse_list(list).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(peer: &str, list: &str, pairs: &[(&str, &str)]) -> IpAddr {
        resolve(ip(peer), &headers(pairs), &trusted(list)).ip
    }

    #[test]
    fn trusted_proxies_parse_cidrs_and_bare_addresses() {
        let nets = trusted(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8,, ::ffff:198.51.100.1");
        assert!(nets.contains(ip("10.255.0.1")));
        assert!(nets.contains(ip("192.0.2.7")));
        assert!(!nets.contains(ip("192.0.2.8")));
        assert!(nets.contains(ip("fd12::1")));
        assert!(nets.contains(ip("198.51.100.1")));
        assert!(
            nets.contains(ip("::ffff:10.1.2.3")),
            "mapped addresses match v4 nets"
        );
        assert!(trusted("").is_empty());
        assert!(TrustedProxies::parse_list("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_list("proxy.internal").is_err());
        assert!(TrustedProxies::parse_list("10.0.0.0/8;10.1.0.0/16").is_err());
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let forged = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9;proto=https"),
            ("x-forwarded-proto", "https"),
        ];
        let origin = resolve(
            ip("198.51.100.4"),
            &headers(&forged),
            &trusted("10.0.0.0/8"),
        );
        assert_eq!(origin.ip, ip("198.51.100.4"));
        assert_eq!(origin.https, None);
        // No trusted proxies at all (the default).
        assert_eq!(client("10.0.0.1", "", &forged), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_address_wins() {
        // The client forged a first entry; the edge proxy 10.0.0.2 appended the real client,
        // and the inner proxy 10.0.0.3 appended the edge proxy; the peer is 10.0.0.3.
        let xff = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")];
        assert_eq!(client("10.0.0.3", "10.0.0.0/8", &xff), ip("203.0.113.9"));
        // Only the inner proxy trusted: the edge proxy's address is as far as we can believe.
        assert_eq!(client("10.0.0.3", "10.0.0.3", &xff), ip("10.0.0.2"));
        // Every hop trusted: the leftmost.
        let internal = [("x-forwarded-for", "10.0.0.9, 10.0.0.2")];
        assert_eq!(client("10.0.0.3", "10.0.0.0/8", &internal), ip("10.0.0.9"));
        // Several header lines form one list, in order.
        let split = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
        ];
        assert_eq!(client("10.0.0.3", "10.0.0.0/8", &split), ip("203.0.113.9"));
    }

    #[test]
    fn x_forwarded_for_accepts_ports_and_brackets() {
        for (entry, expected) in [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
        ] {
            assert_eq!(
                client("10.0.0.1", "10.0.0.0/8", &[("x-forwarded-for", entry)]),
                ip(expected),
                "{entry}"
            );
        }
    }

    #[test]
    fn malformed_headers_fall_back_to_the_peer() {
        for bad in [
            "",
            "not-an-ip",
            "203.0.113.9,,10.0.0.2",
            "203.0.113.9:http",
            "[2001:db8::1",
            "2001:db8::1]:1",
            "unknown",
        ] {
            assert_eq!(
                client("10.0.0.1", "10.0.0.0/8", &[("x-forwarded-for", bad)]),
                ip("10.0.0.1"),
                "{bad:?}"
            );
        }
        for bad in [
            "for=unknown",
            "for=_hidden",
            "for=203.0.113.9;for=198.51.100.1",
            "proto=https",
            "for=\"[2001:db8::1]",
            "for=203.0.113.9 garbage",
            "for=",
            "=203.0.113.9",
            "for=203.0.113.9, for=unknown",
        ] {
            assert_eq!(
                client("10.0.0.1", "10.0.0.0/8", &[("forwarded", bad)]),
                ip("10.0.0.1"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn forwarded_is_read_per_rfc_7239() {
        // §7.4 examples, with a forged leftmost element.
        let value = "for=1.1.1.1, For=\"[2001:db8:cafe::17]:4711\";proto=https, \
                     for=10.0.0.2;proto=http;by=10.0.0.3";
        let origin = resolve(
            ip("10.0.0.3"),
            &headers(&[("forwarded", value)]),
            &trusted("10.0.0.0/8"),
        );
        assert_eq!(origin.ip, ip("2001:db8:cafe::17"));
        assert_eq!(origin.https, Some(true));
        assert_eq!(
            client(
                "10.0.0.3",
                "10.0.0.0/8",
                &[("forwarded", "for=\"203.0.113.9:80\";by=_edge")]
            ),
            ip("203.0.113.9")
        );
        // Forwarded wins over X-Forwarded-For when both are sent.
        assert_eq!(
            client(
                "10.0.0.3",
                "10.0.0.0/8",
                &[
                    ("forwarded", "for=203.0.113.9"),
                    ("x-forwarded-for", "198.51.100.1")
                ]
            ),
            ip("203.0.113.9")
        );
        // A quoted value may hold separators.
        assert_eq!(
            parse_forwarded("for=\"a,b;c\";proto=https").unwrap(),
            vec![vec![
                ("for".to_owned(), "a,b;c".to_owned()),
                ("proto".to_owned(), "https".to_owned())
            ]]
        );
    }

    #[test]
    fn the_scheme_comes_from_a_trusted_proxy_only() {
        let tls_edge = [
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ];
        let trusted_edge = resolve(ip("10.0.0.1"), &headers(&tls_edge), &trusted("10.0.0.1"));
        assert_eq!(trusted_edge.https, Some(true));
        let untrusted = resolve(ip("10.0.0.2"), &headers(&tls_edge), &trusted("10.0.0.1"));
        assert_eq!(untrusted.https, None);
        // Only the proto, no address.
        let proto_only = resolve(
            ip("10.0.0.1"),
            &headers(&[("x-forwarded-proto", "https")]),
            &trusted("10.0.0.1"),
        );
        assert_eq!(
            proto_only,
            ClientOrigin {
                ip: ip("10.0.0.1"),
                https: Some(true)
            }
        );
        // Lists pair from the right.
        let chained = resolve(
            ip("10.0.0.3"),
            &headers(&[
                ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
                ("x-forwarded-proto", "https, http"),
            ]),
            &trusted("10.0.0.0/8"),
        );
        assert_eq!(chained.ip, ip("203.0.113.9"));
        assert_eq!(chained.https, Some(true));
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(rate_limit_subject(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(
            rate_limit_subject(ip("2001:db8:1:2:3:4:5:6")),
            rate_limit_subject(ip("2001:db8:1:2:ffff::1"))
        );
        assert_eq!(
            rate_limit_subject(ip("2001:db8:1:2::9")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(rate_limit_subject(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }

    #[test]
    fn deserializes_from_a_string_or_an_array() {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            proxies: TrustedProxies,
        }
        let from_string: Wrapper =
            serde_json::from_str(r#"{"proxies": "10.0.0.0/8, 192.0.2.1"}"#).unwrap();
        let from_array: Wrapper =
            serde_json::from_str(r#"{"proxies": ["10.0.0.0/8", "192.0.2.1"]}"#).unwrap();
        assert_eq!(from_string.proxies, from_array.proxies);
        assert!(serde_json::from_str::<Wrapper>(r#"{"proxies": ["10.0.0.0/99"]}"#).is_err());
    }
}
