//! A real SMTP server for the tests (RFC 5321, the subset a client needs): it listens on a
//! loopback port, greets with 220, answers EHLO/HELO, MAIL FROM, RCPT TO, DATA (with the
//! dot-unstuffing of §4.5.2), RSET, NOOP and QUIT, and records every message it accepts. It can
//! be told to refuse service (421, every connection closed at once) or defer mail (451 to MAIL
//! FROM), and be stopped and started again on the same port, to play a mail server's outage.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent, dot-unstuffed, lines joined with CRLF.
    pub data: String,
}

impl ReceivedMail {
    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The body of the first MIME part of `content_type` (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        let start = self.data.find(&format!("Content-Type: {content_type}"))?;
        let rest = &self.data[start..];
        let body_start = rest.find("\r\n\r\n")? + 4;
        let body = &rest[body_start..];
        let end = body.find("\r\n--").unwrap_or(body.len());
        Some(body[..end].to_owned())
    }
}

/// How the sink misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// `421 Service not available`, to the greeting and to any command, then the connection
    /// closes (RFC 5321 §3.8).
    Unavailable421,
    /// `451` to MAIL FROM: a transient local error.
    Deferred451,
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    outage: Option<Outage>,
    connections: usize,
}

pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// A sink on a free loopback port.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let server = Some(serve(listener, state.clone()));
        SmtpSink {
            addr,
            state,
            server,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`, for `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn set_outage(&self, outage: Option<Outage>) {
        self.state.lock().unwrap().outage = outage;
    }

    /// Closes the port and every open connection.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn restart(&mut self) {
        self.stop();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("cannot listen on {} again: {err}", self.addr),
            }
        };
        self.server = Some(serve(listener, self.state.clone()));
    }

    /// Waits until at least `count` messages arrived (or `timeout` passed) and returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || tokio::time::Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts connections until aborted; aborting it drops (and so aborts) every connection.
fn serve(listener: TcpListener, state: Arc<Mutex<State>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    state.lock().unwrap().connections += 1;
                    connections.spawn(converse(stream, state.clone()));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

async fn reply(writer: &mut tokio::net::tcp::OwnedWriteHalf, line: &str) -> std::io::Result<()> {
    writer.write_all(line.as_bytes()).await?;
    writer.write_all(b"\r\n").await?;
    writer.flush().await
}

const UNAVAILABLE: &str = "421 4.3.2 Service not available, closing transmission channel";

async fn converse(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let outage = || state.lock().unwrap().outage;
    if outage() == Some(Outage::Unavailable421) {
        return reply(&mut writer, UNAVAILABLE).await;
    }
    reply(&mut writer, "220 sink.test ESMTP ready").await?;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']).to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if outage() == Some(Outage::Unavailable421) {
            return reply(&mut writer, UNAVAILABLE).await;
        }
        match verb.as_str() {
            "EHLO" => {
                reply(&mut writer, "250-sink.test greets you").await?;
                reply(&mut writer, "250 8BITMIME").await?;
            }
            "HELO" => reply(&mut writer, "250 sink.test").await?,
            "MAIL" => {
                if outage() == Some(Outage::Deferred451) {
                    reply(
                        &mut writer,
                        "451 4.3.0 Mail server temporarily rejected message",
                    )
                    .await?;
                    continue;
                }
                mail_from = Some(address_of(&command));
                rcpt_to.clear();
                reply(&mut writer, "250 2.1.0 Ok").await?;
            }
            "RCPT" => {
                if mail_from.is_none() {
                    reply(&mut writer, "503 5.5.1 MAIL first").await?;
                    continue;
                }
                rcpt_to.push(address_of(&command));
                reply(&mut writer, "250 2.1.5 Ok").await?;
            }
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    reply(&mut writer, "503 5.5.1 RCPT first").await?;
                    continue;
                }
                reply(&mut writer, "354 End data with <CR><LF>.<CR><LF>").await?;
                let mut lines = Vec::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    // RFC 5321 §4.5.2: a line that starts with a dot had one more added.
                    lines.push(text.strip_prefix('.').unwrap_or(text).to_owned());
                }
                let id = {
                    let mut state = state.lock().unwrap();
                    state.messages.push(ReceivedMail {
                        mail_from: mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        data: lines.join("\r\n"),
                    });
                    state.messages.len()
                };
                reply(&mut writer, &format!("250 2.0.0 Ok: queued as SINK{id}")).await?;
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                reply(&mut writer, "250 2.0.0 Ok").await?;
            }
            "NOOP" => reply(&mut writer, "250 2.0.0 Ok").await?,
            "QUIT" => return reply(&mut writer, "221 2.0.0 Bye").await,
            _ => reply(&mut writer, "500 5.5.2 Command not recognized").await?,
        }
    }
}

/// `MAIL FROM:<a@b> SIZE=1` → `a@b`.
fn address_of(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}

// ---- Helpers for the tests that follow links in account mails (additions). ----

thread_local! {
    /// The sink of the test on this thread, for [`use_sink`] (a plain `fn` that
    /// `TestAppBuilder::configure` accepts). Each `#[tokio::test]` runs on its own thread.
    static SINK_URL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Makes [`use_sink`] on this thread point the server at `sink`.
pub fn point_at(sink: &SmtpSink) {
    SINK_URL.with(|url| *url.borrow_mut() = sink.url());
}

/// Settings: send mail over SMTP to the sink named by the last [`point_at`] on this thread.
pub fn use_sink(settings: &mut gatehouse_server::Settings) {
    let url = SINK_URL.with(|url| url.borrow().clone());
    assert!(!url.is_empty(), "call smtp::point_at(&sink) first");
    settings.email.transport = gatehouse_mail::TransportKind::Smtp;
    settings.email.smtp_url = Some(url.into());
}

/// Decodes a quoted-printable body (RFC 2045 §6.7): soft line breaks and `=XX` escapes.
pub fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ReceivedMail {
    /// The decoded body of the first MIME part of `content_type` (`text/plain`, `text/html`),
    /// after its `Content-Transfer-Encoding` (7bit, quoted-printable or base64).
    pub fn decoded_part(&self, content_type: &str) -> Option<String> {
        let start = self.data.find(&format!("Content-Type: {content_type}"))?;
        let rest = &self.data[start..];
        let head_end = rest.find("\r\n\r\n")?;
        let head = rest[..head_end].to_ascii_lowercase();
        let body = &rest[head_end + 4..];
        let end = body.find("\r\n--").unwrap_or(body.len());
        let body = &body[..end];
        if head.contains("content-transfer-encoding: quoted-printable") {
            Some(decode_quoted_printable(body))
        } else if head.contains("content-transfer-encoding: base64") {
            use base64::Engine as _;
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Some(body.to_owned())
        }
    }

    /// The decoded text part.
    pub fn text(&self) -> String {
        self.decoded_part("text/plain")
            .unwrap_or_else(|| panic!("no text/plain part: {}", self.data))
    }

    /// The `Subject` header.
    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// Whether the mail went to `address` (envelope recipient, case-insensitive).
    pub fn is_to(&self, address: &str) -> bool {
        self.rcpt_to
            .iter()
            .any(|to| to.eq_ignore_ascii_case(address))
    }

    /// The first link of the text part that starts with `prefix` (e.g.
    /// `http://127.0.0.1:PORT/password/reset?token=`), whole.
    pub fn link_starting(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(prefix)?;
        let rest = &text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }

    /// The `token` query parameter of the first link to `{issuer}{path}` in the text part.
    pub fn token_for(&self, issuer: &str, path: &str) -> Option<String> {
        let link = self.link_starting(&format!("{issuer}{path}?token="))?;
        let url = url::Url::parse(&link).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    }

    /// The short code of a verification mail (the text part's `Code: 123456` line).
    pub fn verification_code(&self) -> Option<String> {
        let text = self.text();
        let start = text.find("Code: ")? + "Code: ".len();
        let code: String = text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (!code.is_empty()).then_some(code)
    }
}

impl SmtpSink {
    /// The mails received so far to `to` with `subject`, oldest first.
    pub fn mails_to(&self, to: &str, subject: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|mail| mail.is_to(to) && mail.subject() == subject)
            .collect()
    }

    /// Waits (up to `timeout`) until at least `count` mails to `to` with `subject` arrived, and
    /// returns them all (fewer if the time ran out).
    pub async fn wait_for_mails(
        &self,
        to: &str,
        subject: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mails = self.mails_to(to, subject);
            if mails.len() >= count || tokio::time::Instant::now() >= deadline {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `count`-th mail (1-based) to `to` with `subject`; panics if it does not arrive
    /// within `timeout`.
    pub async fn expect_mail(
        &self,
        to: &str,
        subject: &str,
        count: usize,
        timeout: Duration,
    ) -> ReceivedMail {
        let mails = self.wait_for_mails(to, subject, count, timeout).await;
        assert!(
            mails.len() >= count,
            "mail #{count} to {to} with subject {subject:?} did not arrive within {timeout:?}; \
             received: {:#?}",
            self.messages()
                .iter()
                .map(|m| (m.rcpt_to.clone(), m.subject()))
                .collect::<Vec<_>>()
        );
        mails[count - 1].clone()
    }
}
