//! A mail rendered from its template pair, kept as plain data (what the outbox stores), and the
//! RFC 5322 message built from it: a `multipart/alternative` with the text part first and the
//! HTML part second (RFC 2046 §5.1.4: the last part is the preferred one), a Message-ID that
//! stays the same across retries, and the configured From.

use askama::Template;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};

/// Why a mail could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid recipient address `{address}`: {reason}")]
    Recipient { address: String, reason: String },
    #[error("cannot render mail template: {0}")]
    Template(#[from] askama::Error),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("mail is not configured: {0}")]
    NotConfigured(&'static str),
    #[error("cannot write {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// A mail ready to send: everything but the From, which the sender adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// `<random@domain-of-from>`: generated once, so a retried mail keeps it and receivers can
    /// drop duplicates.
    pub message_id: String,
}

impl RenderedMail {
    /// A mail with a fresh Message-ID in the domain of `from`.
    pub fn new(
        to: &str,
        subject: &str,
        text_body: String,
        html_body: String,
        from: &Mailbox,
    ) -> RenderedMail {
        RenderedMail {
            to: to.trim().to_owned(),
            // A header is one line: line breaks in a subject could start a header of their own.
            subject: subject.replace(['\r', '\n'], " "),
            text_body,
            html_body,
            message_id: format!(
                "<{}@{}>",
                uuid::Uuid::new_v4().simple(),
                from.email.domain()
            ),
        }
    }

    /// The recipient as a mailbox, or why it is not one.
    pub fn recipient(&self) -> Result<Mailbox, MailError> {
        self.to.parse().map_err(|err| MailError::Recipient {
            address: self.to.clone(),
            reason: format!("{err}"),
        })
    }

    /// The message to hand to a transport. Header values are encoded by lettre (RFC 2047), so
    /// no value can break out of its header.
    pub fn to_message(&self, from: &Mailbox) -> Result<Message, MailError> {
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(self.text_body.clone()),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(self.html_body.clone()),
            );
        Ok(Message::builder()
            .message_id(Some(self.message_id.clone()))
            .from(from.clone())
            .to(self.recipient()?)
            .subject(self.subject.clone())
            .multipart(body)?)
    }
}

#[derive(Template)]
#[template(path = "email/test.txt")]
struct TestMailText<'a> {
    issuer: &'a str,
}

#[derive(Template)]
#[template(path = "email/test.html")]
struct TestMailHtml<'a> {
    issuer: &'a str,
}

/// The mail `gatehouse mail test` sends: proves the transport works end to end.
pub struct TestMail<'a> {
    /// Which Gatehouse sent it (its issuer URL).
    pub issuer: &'a str,
}

impl TestMail<'_> {
    pub const SUBJECT: &'static str = "Gatehouse test mail";

    pub fn render(&self, to: &str, from: &Mailbox) -> Result<RenderedMail, MailError> {
        let text = TestMailText {
            issuer: self.issuer,
        }
        .render()?;
        let html = TestMailHtml {
            issuer: self.issuer,
        }
        .render()?;
        Ok(RenderedMail::new(to, Self::SUBJECT, text, html, from))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn from() -> Mailbox {
        "Gatehouse <noreply@example.com>".parse().unwrap()
    }

    fn formatted(mail: &RenderedMail) -> String {
        String::from_utf8(mail.to_message(&from()).unwrap().formatted()).unwrap()
    }

    #[test]
    fn test_mail_has_a_text_and_an_html_part_a_message_id_and_the_from() {
        let mail = TestMail {
            issuer: "https://id.example.com",
        }
        .render("alice@example.org", &from())
        .unwrap();
        assert!(mail.message_id.starts_with('<'));
        assert!(
            mail.message_id.ends_with("@example.com>"),
            "{}",
            mail.message_id
        );
        assert!(mail.text_body.contains("https://id.example.com"));
        assert!(
            mail.html_body
                .contains("<strong>https://id.example.com</strong>")
        );

        let text = formatted(&mail);
        assert!(
            text.contains("From: Gatehouse <noreply@example.com>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: alice@example.org\r\n"), "{text}");
        assert!(text.contains("Subject: Gatehouse test mail\r\n"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: {}\r\n", mail.message_id)),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        let plain = text.find("Content-Type: text/plain").expect("a text part");
        let html = text.find("Content-Type: text/html").expect("an html part");
        assert!(plain < html, "the preferred HTML part comes last");
    }

    #[test]
    fn html_template_escapes_what_it_interpolates() {
        let mail = TestMail {
            issuer: "https://x/<script>",
        }
        .render("a@example.org", &from())
        .unwrap();
        assert!(!mail.html_body.contains("<script>"), "{}", mail.html_body);
        assert!(mail.text_body.contains("<script>"), "text is not HTML");
    }

    #[test]
    fn header_values_cannot_inject_headers() {
        let mail = RenderedMail::new(
            "bob@example.org",
            "Hi\r\nBcc: eve@example.net",
            "t".into(),
            "<p>h</p>".into(),
            &from(),
        );
        let text = formatted(&mail);
        assert!(!text.lines().any(|line| line.starts_with("Bcc:")), "{text}");
        let non_ascii =
            RenderedMail::new("bob@example.org", "Grüße", "t".into(), "h".into(), &from());
        let text = formatted(&non_ascii);
        assert!(text.contains("Subject: =?utf-8?"), "encoded word: {text}");
    }

    #[test]
    fn a_recipient_that_is_not_an_address_is_refused() {
        let mail = RenderedMail::new("bob", "s", "t".into(), "h".into(), &from());
        assert!(matches!(
            mail.to_message(&from()),
            Err(MailError::Recipient { .. })
        ));
        let injected = RenderedMail::new(
            "bob@example.org\r\nBcc: eve@example.net",
            "s",
            "t".into(),
            "h".into(),
            &from(),
        );
        assert!(injected.to_message(&from()).is_err());
    }
}
