//! The mails of account changes: address verification, password reset, the notices of a
//! changed password or a requested change of address, and the "you already have an account"
//! answer to a sign-up with a registered address. Each is a template pair under
//! `templates/email/`; links are built here from the issuer, so every link a mail carries
//! points at this Gatehouse.

use askama::Template;
use lettre::message::Mailbox;

use crate::{MailError, RenderedMail};

/// Renders account mails for one Gatehouse (its issuer URL and From).
#[derive(Debug, Clone)]
pub struct AccountMailer {
    issuer: String,
    from: Mailbox,
}

macro_rules! mail_pair {
    ($text:ident, $text_path:literal, $html:ident, $html_path:literal,
     { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            $($field: $ty,)*
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            $($field: $ty,)*
        }
    };
}

mail_pair!(VerifyText, "email/verify_email.txt", VerifyHtml, "email/verify_email.html", {
    issuer: &'a str, to: &'a str, link: &'a str, code: &'a str, valid_for: &'a str,
});
mail_pair!(ResetText, "email/password_reset.txt", ResetHtml, "email/password_reset.html", {
    issuer: &'a str, link: &'a str, valid_for: &'a str,
});
mail_pair!(ChangedText, "email/password_changed.txt", ChangedHtml, "email/password_changed.html", {
    issuer: &'a str, forgot_link: &'a str,
});
mail_pair!(ExistsText, "email/account_exists.txt", ExistsHtml, "email/account_exists.html", {
    issuer: &'a str, to: &'a str, forgot_link: &'a str,
});
mail_pair!(ChangeNoticeText, "email/email_change_notice.txt", ChangeNoticeHtml, "email/email_change_notice.html", {
    issuer: &'a str, new_address: &'a str, forgot_link: &'a str,
});

/// "24 hours", "30 minutes": how long a link lives, in words.
pub fn duration_in_words(duration: chrono::Duration) -> String {
    let minutes = duration.num_minutes().max(1);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if minutes % (24 * 60) == 0 {
        plural(minutes / (24 * 60), "day")
    } else if minutes % 60 == 0 {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

impl AccountMailer {
    pub const VERIFY_SUBJECT: &'static str = "Verify your email address";
    pub const RESET_SUBJECT: &'static str = "Reset your password";
    pub const CHANGED_SUBJECT: &'static str = "Your password was changed";
    pub const EXISTS_SUBJECT: &'static str = "You already have an account";
    pub const CHANGE_NOTICE_SUBJECT: &'static str = "Your email address is being changed";

    pub fn new(issuer: &str, from: Mailbox) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            from,
        }
    }

    fn link(&self, path: &str, token: &str) -> String {
        // Tokens are base64url: nothing in them needs escaping in a query.
        format!("{}{path}?token={token}", self.issuer)
    }

    fn forgot_link(&self) -> String {
        format!("{}/password/forgot", self.issuer)
    }

    fn pair(
        &self,
        to: &str,
        subject: &str,
        text: Result<String, askama::Error>,
        html: Result<String, askama::Error>,
    ) -> Result<RenderedMail, MailError> {
        Ok(RenderedMail::new(to, subject, text?, html?, &self.from))
    }

    /// `{issuer}/email/verify?token=TOKEN` and the short code.
    pub fn verification(
        &self,
        to: &str,
        token: &str,
        code: &str,
        valid_for: chrono::Duration,
    ) -> Result<RenderedMail, MailError> {
        let link = self.link("/email/verify", token);
        let valid_for = duration_in_words(valid_for);
        let issuer = self.issuer.as_str();
        self.pair(
            to,
            Self::VERIFY_SUBJECT,
            VerifyText {
                issuer,
                to,
                link: &link,
                code,
                valid_for: &valid_for,
            }
            .render(),
            VerifyHtml {
                issuer,
                to,
                link: &link,
                code,
                valid_for: &valid_for,
            }
            .render(),
        )
    }

    /// `{issuer}/password/reset?token=TOKEN`.
    pub fn password_reset(
        &self,
        to: &str,
        token: &str,
        valid_for: chrono::Duration,
    ) -> Result<RenderedMail, MailError> {
        let link = self.link("/password/reset", token);
        let valid_for = duration_in_words(valid_for);
        let issuer = self.issuer.as_str();
        self.pair(
            to,
            Self::RESET_SUBJECT,
            ResetText {
                issuer,
                link: &link,
                valid_for: &valid_for,
            }
            .render(),
            ResetHtml {
                issuer,
                link: &link,
                valid_for: &valid_for,
            }
            .render(),
        )
    }

    pub fn password_changed(&self, to: &str) -> Result<RenderedMail, MailError> {
        let forgot_link = self.forgot_link();
        let issuer = self.issuer.as_str();
        self.pair(
            to,
            Self::CHANGED_SUBJECT,
            ChangedText {
                issuer,
                forgot_link: &forgot_link,
            }
            .render(),
            ChangedHtml {
                issuer,
                forgot_link: &forgot_link,
            }
            .render(),
        )
    }

    pub fn account_exists(&self, to: &str) -> Result<RenderedMail, MailError> {
        let forgot_link = self.forgot_link();
        let issuer = self.issuer.as_str();
        self.pair(
            to,
            Self::EXISTS_SUBJECT,
            ExistsText {
                issuer,
                to,
                forgot_link: &forgot_link,
            }
            .render(),
            ExistsHtml {
                issuer,
                to,
                forgot_link: &forgot_link,
            }
            .render(),
        )
    }

    pub fn email_change_notice(
        &self,
        to: &str,
        new_address: &str,
    ) -> Result<RenderedMail, MailError> {
        let forgot_link = self.forgot_link();
        let issuer = self.issuer.as_str();
        self.pair(
            to,
            Self::CHANGE_NOTICE_SUBJECT,
            ChangeNoticeText {
                issuer,
                new_address,
                forgot_link: &forgot_link,
            }
            .render(),
            ChangeNoticeHtml {
                issuer,
                new_address,
                forgot_link: &forgot_link,
            }
            .render(),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn mailer() -> AccountMailer {
        AccountMailer::new(
            "https://id.example.com/",
            "Gatehouse <noreply@example.com>".parse().unwrap(),
        )
    }

    #[test]
    fn verification_mail_carries_the_link_and_the_code_in_both_parts() {
        let mail = mailer()
            .verification(
                "a@example.org",
                "TOKEN_1",
                "012345",
                chrono::Duration::hours(24),
            )
            .unwrap();
        assert_eq!(mail.subject, AccountMailer::VERIFY_SUBJECT);
        let link = "https://id.example.com/email/verify?token=TOKEN_1";
        assert!(mail.text_body.contains(link), "{}", mail.text_body);
        assert!(
            mail.text_body.contains("Code: 012345"),
            "{}",
            mail.text_body
        );
        assert!(mail.text_body.contains("1 day"), "{}", mail.text_body);
        assert!(
            mail.html_body.contains(&format!("href=\"{link}\"")),
            "{}",
            mail.html_body
        );
    }

    #[test]
    fn reset_mail_links_to_the_reset_page() {
        let mail = mailer()
            .password_reset("a@example.org", "T2", chrono::Duration::minutes(30))
            .unwrap();
        assert!(
            mail.text_body
                .contains("https://id.example.com/password/reset?token=T2")
        );
        assert!(mail.text_body.contains("30 minutes"));
    }

    #[test]
    fn addresses_are_escaped_in_html() {
        let mail = mailer()
            .email_change_notice("a@example.org", "<b>x</b>@example.org")
            .unwrap();
        assert!(!mail.html_body.contains("<b>x</b>"), "{}", mail.html_body);
        assert!(mail.text_body.contains("<b>x</b>@example.org"));
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_in_words(chrono::Duration::hours(24)), "1 day");
        assert_eq!(duration_in_words(chrono::Duration::hours(2)), "2 hours");
        assert_eq!(
            duration_in_words(chrono::Duration::minutes(30)),
            "30 minutes"
        );
        assert_eq!(duration_in_words(chrono::Duration::minutes(1)), "1 minute");
    }
}
