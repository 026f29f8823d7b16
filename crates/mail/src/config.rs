//! The `[email]` settings, checked once at start: which transport, the SMTP server's URL, the
//! From address and the directory of the file transport. Errors name the offending key.

use std::net::IpAddr;
use std::path::PathBuf;

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Where mail goes (`email.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// An SMTP server, `email.smtp_url`.
    Smtp,
    /// One `.eml` file per mail in `email.file_dir`: the embedded default, for development.
    File,
    /// The log: recipient, subject and text body.
    Log,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text: allowed to a loopback address only (a local relay).
    None,
    /// `smtp://host:587?tls=starttls`: upgraded with STARTTLS, which must succeed.
    StartTls,
    /// `smtps://host`: TLS from the first byte (RFC 8314).
    ImplicitTls,
}

/// A parsed `email.smtp_url`. The password never prints (`Debug` shows it redacted).
#[derive(Debug, Clone)]
pub struct SmtpEndpoint {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

/// A bad `[email]` value; the message names the key (`email.smtp_url: …`).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct MailConfigError {
    pub key: &'static str,
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> MailConfigError {
    MailConfigError {
        key,
        message: message.into(),
    }
}

impl SmtpEndpoint {
    /// Parses `smtp://[user:pass@]host[:port][?tls=starttls]` or `smtps://[user:pass@]host[:port]`.
    /// Plain SMTP (no TLS) is refused unless the host is a loopback address or `localhost`.
    pub fn parse(raw: &str) -> Result<SmtpEndpoint, MailConfigError> {
        const KEY: &str = "email.smtp_url";
        // Never echo the URL itself: it may carry a password.
        let url = Url::parse(raw).map_err(|err| invalid(KEY, format!("not a URL ({err})")))?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| invalid(KEY, "has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut tls_param = None;
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "tls" => tls_param = Some(value.into_owned()),
                other => return Err(invalid(KEY, format!("unknown parameter `{other}`"))),
            }
        }
        let (security, default_port) = match (url.scheme(), tls_param.as_deref()) {
            ("smtps", None | Some("implicit")) => (SmtpSecurity::ImplicitTls, 465),
            ("smtp", Some("starttls")) => (SmtpSecurity::StartTls, 587),
            ("smtp", None | Some("none")) => (SmtpSecurity::None, 25),
            ("smtp" | "smtps", Some(other)) => {
                return Err(invalid(
                    KEY,
                    format!("tls={other} is not one of starttls, implicit (smtps://), none"),
                ));
            }
            (other, _) => {
                return Err(invalid(
                    KEY,
                    format!("scheme `{other}` is not smtp:// or smtps://"),
                ));
            }
        };
        if security == SmtpSecurity::None && !is_loopback(&host) {
            return Err(invalid(
                KEY,
                format!(
                    "plain SMTP to {host} would send mail and credentials in clear text; use \
                     smtps:// or ?tls=starttls (plain SMTP is allowed to loopback only)"
                ),
            ));
        }
        let username = match url.username() {
            "" => None,
            name => Some(decode(name)),
        };
        let password = url.password().map(|pass| SecretString::from(decode(pass)));
        if password.is_some() && username.is_none() {
            return Err(invalid(KEY, "has a password but no user name"));
        }
        Ok(SmtpEndpoint {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            username,
            password,
        })
    }

    /// `host:port`, for messages (never the credentials).
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(crate) fn credentials(&self) -> Option<(String, String)> {
        let user = self.username.clone()?;
        let pass = self
            .password
            .as_ref()
            .map(|pass| pass.expose_secret().to_owned())
            .unwrap_or_default();
        Some((user, pass))
    }
}

fn decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={part}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| part.to_owned())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The checked `[email]` settings a [`crate::Mailer`] is built from.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: TransportKind,
    /// Present when `transport` is `smtp`.
    pub smtp: Option<SmtpEndpoint>,
    pub from: Mailbox,
    pub file_dir: PathBuf,
}

impl MailConfig {
    /// Checks the raw settings: `smtp_url` is required (and parsed) for the SMTP transport,
    /// `from` must be a mailbox (`Gatehouse <noreply@example.com>`), `file_dir` non-empty for the
    /// file transport.
    pub fn new(
        transport: TransportKind,
        smtp_url: Option<&SecretString>,
        from: &str,
        file_dir: PathBuf,
    ) -> Result<MailConfig, MailConfigError> {
        let from: Mailbox = from
            .parse()
            .map_err(|err| invalid("email.from", format!("not a mail address ({err})")))?;
        let smtp = match (transport, smtp_url) {
            (TransportKind::Smtp, None) => {
                return Err(invalid(
                    "email.smtp_url",
                    "is required when email.transport is smtp",
                ));
            }
            (TransportKind::Smtp, Some(url)) => Some(SmtpEndpoint::parse(url.expose_secret())?),
            _ => None,
        };
        if transport == TransportKind::File && file_dir.as_os_str().is_empty() {
            return Err(invalid(
                "email.file_dir",
                "is required when email.transport is file",
            ));
        }
        Ok(MailConfig {
            transport,
            smtp,
            from,
            file_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn plain_smtp_to_loopback_with_port() {
        let endpoint = SmtpEndpoint::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(endpoint.host, "127.0.0.1");
        assert_eq!(endpoint.port, 2525);
        assert_eq!(endpoint.security, SmtpSecurity::None);
        assert!(endpoint.credentials().is_none());
        assert_eq!(SmtpEndpoint::parse("smtp://localhost").unwrap().port, 25);
        assert_eq!(SmtpEndpoint::parse("smtp://[::1]:26").unwrap().host, "::1");
    }

    #[test]
    fn smtps_is_implicit_tls_with_credentials_that_never_print() {
        let endpoint = SmtpEndpoint::parse("smtps://mailer:s%40cret@mail.example.com").unwrap();
        assert_eq!(endpoint.security, SmtpSecurity::ImplicitTls);
        assert_eq!(endpoint.port, 465);
        assert_eq!(endpoint.host, "mail.example.com");
        assert_eq!(
            endpoint.credentials(),
            Some(("mailer".to_owned(), "s@cret".to_owned()))
        );
        let printed = format!("{endpoint:?}");
        assert!(!printed.contains("s@cret"), "{printed}");
        assert!(!printed.contains("s%40cret"), "{printed}");
    }

    #[test]
    fn starttls_by_parameter() {
        let endpoint = SmtpEndpoint::parse("smtp://mail.example.com:587?tls=starttls").unwrap();
        assert_eq!(endpoint.security, SmtpSecurity::StartTls);
        assert_eq!(endpoint.port, 587);
        assert_eq!(
            SmtpEndpoint::parse("smtp://mail.example.com?tls=starttls")
                .unwrap()
                .port,
            587
        );
    }

    #[test]
    fn plain_smtp_to_a_remote_host_is_refused_naming_the_key() {
        for url in [
            "smtp://mail.example.com:25",
            "smtp://10.0.0.5:2525",
            "smtp://user:hunter2@mail.example.com",
        ] {
            let err = SmtpEndpoint::parse(url).unwrap_err();
            assert_eq!(err.key, "email.smtp_url");
            let message = err.to_string();
            assert!(message.starts_with("email.smtp_url: "), "{message}");
            assert!(message.contains("loopback"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn other_schemes_and_parameters_are_refused() {
        assert!(SmtpEndpoint::parse("http://127.0.0.1").is_err());
        assert!(SmtpEndpoint::parse("smtp://127.0.0.1?tls=maybe").is_err());
        assert!(SmtpEndpoint::parse("smtp://127.0.0.1?pool=3").is_err());
        assert!(SmtpEndpoint::parse("not a url").is_err());
    }

    #[test]
    fn config_requires_a_url_for_smtp_and_a_mailbox_for_from() {
        let err =
            MailConfig::new(TransportKind::Smtp, None, "a@example.com", "m".into()).unwrap_err();
        assert_eq!(err.key, "email.smtp_url");
        let err =
            MailConfig::new(TransportKind::Log, None, "not an address", "m".into()).unwrap_err();
        assert_eq!(err.key, "email.from");
        let url = SecretString::from("smtp://127.0.0.1:2525");
        let config = MailConfig::new(
            TransportKind::Smtp,
            Some(&url),
            "Gatehouse <noreply@example.com>",
            "m".into(),
        )
        .unwrap();
        assert_eq!(config.smtp.unwrap().port, 2525);
        assert_eq!(config.from.email.to_string(), "noreply@example.com");
    }
}
