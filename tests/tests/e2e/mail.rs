//! Mail delivery end to end: a mail written to the outbox is sent by the server's worker to a
//! real SMTP server (the suite's sink); an outage is ridden out with the retry schedule; two
//! instances on one database send each mail once; `gatehouse mail test` reports the server's
//! answer or the failure.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Delay;
use chrono::SubsecRound;
use gatehouse_identity::{MailStatus, OutboxEntry, OutboxMail};
use gatehouse_mail::{Delivery, TransportKind};
use gatehouse_server::Settings;
use gatehouse_server::cli::{Command, run};
use gatehouse_server::mail::{MailCommand, MailWorker, send_test_mail};
use gatehouse_tests::TestApp;
use gatehouse_tests::smtp::{Outage, SmtpSink};

const PATIENCE: Duration = Duration::from_secs(15);

thread_local! {
    /// The sink of the test on this thread, for `configure` (a plain `fn`); each `#[tokio::test]`
    /// runs on its own thread.
    static SINK_URL: RefCell<String> = const { RefCell::new(String::new()) };
}

fn use_sink(settings: &mut Settings) {
    settings.email.transport = TransportKind::Smtp;
    settings.email.smtp_url = Some(SINK_URL.with(|url| url.borrow().clone()).into());
}

async fn app_with(sink: &SmtpSink) -> TestApp {
    SINK_URL.with(|url| *url.borrow_mut() = sink.url());
    TestApp::builder().configure(use_sink).spawn().await
}

fn mail(n: usize) -> OutboxMail {
    OutboxMail {
        to: format!("user{n}@example.org"),
        subject: format!("Welcome ü {n}"),
        text_body: format!("Hello user {n},\r\n.leading dot survives\r\n"),
        html_body: format!("<p>Hello <b>user {n}</b></p>"),
        message_id: format!("<{}@gatehouse.local>", uuid::Uuid::new_v4().simple()),
    }
}

async fn enqueue(app: &TestApp, mail: &OutboxMail) {
    let (mail, now) = (mail.clone(), app.clock_now());
    app.state
        .accounts
        .database()
        .run(move |db| db.enqueue_mail(&mail, now))
        .await
        .unwrap();
}

async fn outbox_entry(app: &TestApp, message_id: &str) -> OutboxEntry {
    let id = message_id.to_owned();
    app.state
        .accounts
        .database()
        .run(move |db| db.find_outbox_mail(&id))
        .await
        .unwrap()
        .expect("queued")
}

/// Waits until the mail has failed `attempts` times in all.
async fn wait_for_attempts(app: &TestApp, message_id: &str, attempts: i32) -> OutboxEntry {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let entry = outbox_entry(app, message_id).await;
        if entry.attempts >= attempts || tokio::time::Instant::now() > deadline {
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_worker_delivers_a_queued_mail_with_both_parts() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    let queued = mail(1);
    enqueue(&app, &queued).await;

    let received = sink.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1, "delivered once");
    let got = &received[0];
    assert_eq!(got.rcpt_to, vec!["user1@example.org".to_owned()]);
    assert_eq!(got.mail_from, "noreply@gatehouse.local");
    assert_eq!(
        got.header("From").as_deref(),
        Some("Gatehouse <noreply@gatehouse.local>")
    );
    assert_eq!(got.header("To").as_deref(), Some("user1@example.org"));
    assert_eq!(
        got.header("Message-ID").as_deref(),
        Some(queued.message_id.as_str())
    );
    let subject = got.header("Subject").unwrap();
    assert!(
        subject.starts_with("Welcome =?utf-8?"),
        "encoded: {subject}"
    );
    assert!(got.header("Date").is_some());
    assert!(
        got.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        got.data
    );
    let text = got.part("text/plain").expect("a text part");
    assert!(text.contains("Hello user 1,"), "{text}");
    assert!(
        text.contains("\r\n.leading dot survives"),
        "dot-stuffed and unstuffed: {text}"
    );
    let html = got.part("text/html").expect("an html part");
    assert!(html.contains("<b>user 1</b>"), "{html}");

    let entry = wait_for_status(&app, &queued.message_id, MailStatus::Sent).await;
    assert_eq!(entry.attempts, 0);
}

async fn wait_for_status(app: &TestApp, message_id: &str, status: MailStatus) -> OutboxEntry {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let entry = outbox_entry(app, message_id).await;
        if entry.status == status || tokio::time::Instant::now() > deadline {
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_smtp_outage_is_retried_with_backoff_and_the_mail_delivered_after_it() {
    let mut sink = SmtpSink::start().await;
    sink.set_outage(Some(Outage::Unavailable421));
    let app = app_with(&sink).await;
    let queued = mail(2);
    // The database keeps microseconds.
    let queued_at = app.clock_now().trunc_subsecs(6);
    enqueue(&app, &queued).await;

    // The server refuses service: the first attempt fails, the next one is 30 s later.
    let entry = wait_for_attempts(&app, &queued.message_id, 1).await;
    assert_eq!(entry.attempts, 1, "{entry:?}");
    assert_eq!(entry.status, MailStatus::Pending);
    assert_eq!(entry.next_attempt_at, queued_at + Delay::seconds(30));
    assert!(
        entry
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("421"),
        "{entry:?}"
    );

    // Then it is down altogether: the second attempt fails too, the third is 2 min later.
    sink.set_outage(None);
    sink.stop();
    app.advance_clock(Delay::seconds(30));
    let entry = wait_for_attempts(&app, &queued.message_id, 2).await;
    assert_eq!(entry.attempts, 2, "{entry:?}");
    assert_eq!(
        entry.next_attempt_at,
        queued_at + Delay::seconds(30) + Delay::minutes(2)
    );

    // Back up: nothing is sent before the delay is over, and then the mail goes out once.
    sink.restart().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(sink.messages().is_empty(), "not before its next attempt");
    app.advance_clock(Delay::minutes(2));
    let received = sink.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header("Message-ID").as_deref(),
        Some(queued.message_id.as_str()),
        "the same Message-ID on every attempt"
    );
    let entry = wait_for_status(&app, &queued.message_id, MailStatus::Sent).await;
    assert_eq!(entry.status, MailStatus::Sent);
    assert_eq!(entry.attempts, 2);
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_mail_once() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    // A second instance: its own worker and transport, the same database.
    let second = MailWorker::new(
        app.state.accounts.database().clone(),
        Arc::new(gatehouse_server::mail::mailer(&app.state.settings).unwrap()),
        Arc::new(app.clock.clone()),
    );
    let mails: Vec<OutboxMail> = (0..30).map(mail).collect();
    let second_sends = {
        let second = second.clone();
        tokio::spawn(async move {
            let mut claimed = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline {
                claimed += second.run_once().await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            claimed
        })
    };
    for queued in &mails {
        enqueue(&app, queued).await;
    }
    let received = sink.wait_for(mails.len(), PATIENCE).await;
    let claimed_by_second = second_sends.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received_after = sink.messages();
    assert_eq!(received.len(), mails.len());
    assert_eq!(received_after.len(), mails.len(), "nothing sent twice");
    let mut times: HashMap<String, usize> = HashMap::new();
    for got in &received_after {
        *times.entry(got.header("Message-ID").unwrap()).or_default() += 1;
    }
    for queued in &mails {
        assert_eq!(times.get(&queued.message_id), Some(&1), "{times:?}");
    }
    assert!(claimed_by_second > 0, "the second instance took part");
    assert!(
        claimed_by_second < mails.len(),
        "so did the server's worker"
    );
}

fn cli_settings(url: &str) -> Settings {
    let mut settings = Settings::defaults().unwrap();
    settings.email.transport = TransportKind::Smtp;
    settings.email.smtp_url = Some(url.to_owned().into());
    settings
}

#[tokio::test]
async fn mail_test_prints_the_servers_answer_and_fails_against_a_closed_port() {
    let sink = SmtpSink::start().await;
    let delivery = send_test_mail(&cli_settings(&sink.url()), "ops@example.org")
        .await
        .unwrap();
    let Delivery::Smtp { code, reply } = &delivery else {
        panic!("{delivery:?}")
    };
    assert_eq!(code, "250");
    assert!(reply.contains("queued as SINK1"), "{reply}");
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header("Subject").as_deref(),
        Some("Gatehouse test mail")
    );
    assert!(received[0].part("text/plain").is_some());
    assert!(received[0].part("text/html").is_some());
    assert!(
        received[0].header("Message-ID").is_some(),
        "{}",
        received[0].data
    );

    // What `gatehouse mail test` runs; an error there makes the binary exit with 1.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = run(
        Command::Mail(MailCommand::Test {
            to: "ops@example.org".to_owned(),
        }),
        cli_settings(&format!("smtp://127.0.0.1:{closed}")),
    )
    .await
    .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("cannot send the test mail to ops@example.org"),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");

    // A refusing server's answer is reported as it was given.
    sink.set_outage(Some(Outage::Deferred451));
    let err = send_test_mail(&cli_settings(&sink.url()), "ops@example.org")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("451"), "{err:#}");
}

#[tokio::test]
async fn plain_smtp_to_a_remote_host_is_refused_at_start() {
    let mut settings = Settings::defaults().unwrap();
    settings.email.transport = TransportKind::Smtp;
    settings.email.smtp_url = Some("smtp://user:hunter2@mail.example.com".to_owned().into());
    let err = gatehouse_server::mail::mailer(&settings).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("email.smtp_url"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_mail_that_cannot_be_built_is_given_up_at_once() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    let mut broken = mail(3);
    broken.to = "not an address".to_owned();
    enqueue(&app, &broken).await;
    let good = mail(4);
    enqueue(&app, &good).await;

    let entry = wait_for_status(&app, &broken.message_id, MailStatus::Dead).await;
    assert_eq!(entry.status, MailStatus::Dead, "{entry:?}");
    assert_eq!(entry.attempts, 1);
    assert!(
        entry
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("not an address"),
        "{entry:?}"
    );
    let received = sink.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1, "only the good one");
    assert_eq!(received[0].rcpt_to, vec![good.to.clone()]);
}
