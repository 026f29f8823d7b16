//! Outgoing mail: the `[email]` settings, the rendering of a mail from its askama template pair
//! (`templates/email/NAME.txt` + `NAME.html`) into a [`RenderedMail`], and the transports that
//! deliver one ([`Mailer`]: SMTP, a directory of `.eml` files, or the log).
//!
//! A rendered mail is plain data (recipient, subject, both bodies, Message-ID) so that it can be
//! stored in the outbox and sent later, possibly by another instance; [`Mailer::send`] builds the
//! RFC 5322 message from it with the configured From. Nothing here knows about the outbox or the
//! database: the server's worker ties the two together.

mod account;
mod config;
mod message;
mod transport;

pub use account::{AccountMailer, duration_in_words};
pub use config::{MailConfig, MailConfigError, SmtpEndpoint, SmtpSecurity, TransportKind};
pub use message::{MailError, RenderedMail, TestMail};
pub use transport::{Delivery, Mailer};
