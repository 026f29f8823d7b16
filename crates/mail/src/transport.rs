//! The transports: SMTP (lettre's async client, pooled), a directory of `.eml` files, and the
//! log. [`Mailer::send`] returns what happened to the mail ([`Delivery`]) so callers can log it
//! and `gatehouse mail test` can print the server's answer.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{MailConfig, SmtpEndpoint, SmtpSecurity, TransportKind};
use crate::message::{MailError, RenderedMail};

/// How long one SMTP command may take: a hung server must not hold a mail (or its lease) for
/// lettre's default of a minute.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// What became of a sent mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The SMTP server accepted it: its reply code and text.
    Smtp { code: String, reply: String },
    /// Written to this file.
    File { path: PathBuf },
    /// Written to the log.
    Logged,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Smtp { code, reply } => write!(f, "{code} {reply}"),
            Delivery::File { path } => write!(f, "written to {}", path.display()),
            Delivery::Logged => f.write_str("written to the log"),
        }
    }
}

enum Transport {
    Smtp {
        client: AsyncSmtpTransport<Tokio1Executor>,
        address: String,
    },
    File {
        dir: PathBuf,
    },
    Log,
}

/// Sends rendered mail through the configured transport, with the configured From. Cheap to
/// share behind an `Arc`; the SMTP transport keeps a pool of connections.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &self.transport {
            Transport::Smtp { address, .. } => format!("smtp {address}"),
            Transport::File { dir } => format!("file {}", dir.display()),
            Transport::Log => "log".to_owned(),
        };
        f.debug_struct("Mailer")
            .field("transport", &transport)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// Builds the transport. Call it inside the Tokio runtime that will send (the SMTP pool
    /// lives on it).
    pub fn new(config: &MailConfig) -> Result<Mailer, MailError> {
        let transport = match (config.transport, &config.smtp) {
            (TransportKind::Smtp, Some(endpoint)) => Transport::Smtp {
                client: smtp_client(endpoint)?,
                address: endpoint.address(),
            },
            (TransportKind::Smtp, None) => return Err(missing_url()),
            (TransportKind::File, _) => Transport::File {
                dir: config.file_dir.clone(),
            },
            (TransportKind::Log, _) => Transport::Log,
        };
        Ok(Mailer {
            transport,
            from: config.from.clone(),
        })
    }

    /// The configured From: also the domain of new Message-IDs.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Sends one mail. An error is worth retrying unless the mail itself is malformed
    /// ([`MailError::Recipient`], [`MailError::Build`]).
    pub async fn send(&self, mail: &RenderedMail) -> Result<Delivery, MailError> {
        let message = mail.to_message(&self.from)?;
        match &self.transport {
            Transport::Smtp { client, .. } => {
                let response = client.send(message).await?;
                Ok(Delivery::Smtp {
                    code: response.code().to_string(),
                    reply: response.message().collect::<Vec<_>>().join(" "),
                })
            }
            Transport::File { dir } => {
                let path = dir.join(file_name(&mail.message_id));
                write_file(dir, &path, &message.formatted()).await?;
                Ok(Delivery::File { path })
            }
            Transport::Log => {
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    message_id = %mail.message_id,
                    body = %mail.text_body,
                    "mail (log transport)"
                );
                Ok(Delivery::Logged)
            }
        }
    }
}

fn missing_url() -> MailError {
    MailError::NotConfigured("email.smtp_url is not set")
}

fn smtp_client(endpoint: &SmtpEndpoint) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&endpoint.host)
        .port(endpoint.port)
        .timeout(Some(SMTP_TIMEOUT));
    builder = match endpoint.security {
        SmtpSecurity::None => builder.tls(Tls::None),
        SmtpSecurity::StartTls => {
            builder.tls(Tls::Required(TlsParameters::new(endpoint.host.clone())?))
        }
        SmtpSecurity::ImplicitTls => {
            builder.tls(Tls::Wrapper(TlsParameters::new(endpoint.host.clone())?))
        }
    };
    if let Some((user, pass)) = endpoint.credentials() {
        builder = builder.credentials(Credentials::new(user, pass));
    }
    Ok(builder.build())
}

/// `<abc@example.com>` → `abc_example.com.eml`: the Message-ID is unique, so one file per mail.
fn file_name(message_id: &str) -> String {
    let stem: String = message_id
        .trim_matches(['<', '>'])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.eml")
}

/// Writes through a temporary name, so a reader of the directory never sees half a mail.
async fn write_file(dir: &PathBuf, path: &PathBuf, bytes: &[u8]) -> Result<(), MailError> {
    let failed = |source| MailError::File {
        path: path.display().to_string(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(failed)?;
    let partial = path.with_extension("eml.part");
    tokio::fs::write(&partial, bytes).await.map_err(failed)?;
    tokio::fs::rename(&partial, path).await.map_err(failed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn config(dir: PathBuf) -> MailConfig {
        MailConfig::new(
            TransportKind::File,
            None,
            "Gatehouse <noreply@example.com>",
            dir,
        )
        .unwrap()
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("gatehouse-mail-{}", uuid::Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn file_transport_writes_one_eml_per_mail() {
        let dir = temp_dir().join("nested");
        let mailer = Mailer::new(&config(dir.clone())).unwrap();
        let mut written = Vec::new();
        for to in ["a@example.org", "b@example.org"] {
            let mail = crate::TestMail {
                issuer: "https://id.example.com",
            }
            .render(to, mailer.from())
            .unwrap();
            let Delivery::File { path } = mailer.send(&mail).await.unwrap() else {
                panic!("file transport")
            };
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(&format!("To: {to}\r\n")), "{text}");
            assert!(text.contains(&mail.message_id), "{text}");
            written.push(path);
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        names.sort();
        written.sort();
        assert_eq!(names, written, "one .eml per mail, nothing else");
        assert!(names.iter().all(|p| p.extension().unwrap() == "eml"));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn file_names_come_from_the_message_id() {
        assert_eq!(file_name("<ab12@example.com>"), "ab12_example.com.eml");
        assert_eq!(file_name("<../../etc@x>"), ".._.._etc_x.eml");
    }

    #[tokio::test]
    async fn tls_transports_build_without_connecting() {
        for url in [
            "smtps://mailer:secret@smtp.example.com",
            "smtp://smtp.example.com:587?tls=starttls",
        ] {
            let url = secrecy::SecretString::from(url);
            let config = MailConfig::new(
                TransportKind::Smtp,
                Some(&url),
                "noreply@example.com",
                PathBuf::new(),
            )
            .unwrap();
            let mailer = Mailer::new(&config).unwrap();
            let printed = format!("{mailer:?}");
            assert!(printed.contains("smtp.example.com:"), "{printed}");
            assert!(!printed.contains("secret"), "{printed}");
        }
    }

    #[tokio::test]
    async fn smtp_to_a_closed_port_fails_with_the_cause() {
        let url = secrecy::SecretString::from("smtp://127.0.0.1:1");
        let config = MailConfig::new(
            TransportKind::Smtp,
            Some(&url),
            "noreply@example.com",
            PathBuf::new(),
        )
        .unwrap();
        let mailer = Mailer::new(&config).unwrap();
        let mail =
            crate::RenderedMail::new("a@example.org", "s", "t".into(), "h".into(), mailer.from());
        let err = mailer.send(&mail).await.unwrap_err();
        assert!(matches!(err, MailError::Smtp(_)), "{err:?}");
    }
}
