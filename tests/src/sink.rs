//! A relying party's back-channel endpoint for tests: a real HTTP/1.1 server on 127.0.0.1:0 that
//! records every request and answers with a programmed sequence of statuses (then
//! `default_status`). Each answer closes its connection. Redirects carry a `Location` on the same
//! sink (`/redirected`), so a client that follows them shows up in the record.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where a redirecting answer points.
pub const REDIRECT_PATH: &str = "/redirected";

/// One request as the sink saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `application/x-www-form-urlencoded` body, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<RecordedRequest>,
    script: VecDeque<u16>,
}

pub struct HttpSink {
    pub addr: SocketAddr,
    default_status: u16,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpSink {
    /// Answers `script` in order, then `default_status` to everything.
    pub async fn start(script: &[u16], default_status: u16) -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            requests: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let state = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let _ = serve(stream, addr, &state, default_status).await;
                });
            }
        });
        HttpSink {
            addr,
            default_status,
            shared,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Waits (up to `within`) until at least `count` requests arrived, and returns them all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {count} requests within {within:?} (default status {})",
                requests.len(),
                self.default_status
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Asserts that no request beyond `count` arrives during `quiet`.
    pub async fn assert_no_more_than(&self, count: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        let requests = self.requests();
        assert_eq!(requests.len(), count, "unexpected requests: {requests:#?}");
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    state: &Mutex<Shared>,
    default_status: u16,
) -> std::io::Result<()> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let read = stream.read(&mut buf).await?;
        if read == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..read]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while raw.len() < head_end + length {
        let read = stream.read(&mut buf).await?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..read]);
    }
    let body_end = raw.len().min(head_end + length);
    let body = String::from_utf8_lossy(&raw[head_end..body_end]).into_owned();

    let status = {
        let mut shared = state.lock().unwrap();
        shared.requests.push(RecordedRequest {
            method,
            path,
            headers,
            body,
        });
        shared.script.pop_front().unwrap_or(default_status)
    };
    let location = if (300..400).contains(&status) {
        format!("Location: http://{addr}{REDIRECT_PATH}\r\n")
    } else {
        String::new()
    };
    let answer = format!(
        "HTTP/1.1 {status} Sink\r\n{location}Content-Length: 0\r\nCache-Control: no-store\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}
