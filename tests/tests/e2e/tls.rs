//! Native TLS (`server.tls_cert_file` / `server.tls_key_file`): a CA the test creates, a server
//! certificate for localhost and 127.0.0.1 issued through an intermediate (so the configured file
//! is a chain), and the `openidconnect` relying party trusting only that CA running the code
//! flow against an https issuer served by the binary itself. Also: plain HTTP and TLS 1.1 are
//! refused on the TLS port, a bad pair stops the start naming the key, and a reload serves the
//! new certificate to new handshakes while an open keep-alive connection carries on.
//! (`tests/tls/reload.sh` does the reload with the real binary and `kill -HUP`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use gatehouse_identity::testing::TestDatabase;
use gatehouse_server::tls::ServerCertificates;
use gatehouse_server::{Application, ManualClock, Settings};
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, TestApp, test_redis_url};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A root CA, an intermediate under it, and server certificates issued by the intermediate,
/// written as PEM files into a scratch directory of their own.
struct TestPki {
    dir: PathBuf,
    root_pem: String,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate chain and key as files, and the leaf's DER to recognise it on the wire.
struct ServerPair {
    cert_file: PathBuf,
    key_file: PathBuf,
    leaf_der: Vec<u8>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl TestPki {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-tls-e2e-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let root = CertifiedIssuer::self_signed(
            ca_params("Gatehouse test root CA"),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("Gatehouse test intermediate CA"),
            KeyPair::generate().unwrap(),
            &root,
        )
        .unwrap();
        Self {
            dir,
            root_pem: root.pem(),
            intermediate,
        }
    }

    /// A certificate for localhost and 127.0.0.1 as `<name>.pem` (leaf, then the intermediate)
    /// and its key as `<name>.key`.
    fn issue(&self, name: &str) -> ServerPair {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("gatehouse {name}"));
        let leaf = params.signed_by(&key, &self.intermediate).unwrap();
        let cert_file = self.dir.join(format!("{name}.pem"));
        let key_file = self.dir.join(format!("{name}.key"));
        std::fs::write(
            &cert_file,
            format!("{}{}", leaf.pem(), self.intermediate.pem()),
        )
        .unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        ServerPair {
            cert_file,
            key_file,
            leaf_der: leaf.der().to_vec(),
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One PKI and server pair for the apps built through [`TestApp::builder`], whose `configure`
/// hook is a plain `fn` and so reads them from here.
static SHARED: LazyLock<(TestPki, ServerPair)> = LazyLock::new(|| {
    let pki = TestPki::new();
    let pair = pki.issue("shared");
    (pki, pair)
});

/// Native TLS on the harness's port, with an https issuer on `localhost`.
fn native_tls(settings: &mut Settings) {
    let port = settings.server.issuer.port().unwrap();
    settings.server.issuer = format!("https://localhost:{port}").parse().unwrap();
    let pair = &SHARED.1;
    settings.server.tls_cert_file = Some(pair.cert_file.clone());
    settings.server.tls_key_file = Some(pair.key_file.clone());
}

/// A client that trusts only the test root CA, reaches `localhost` at 127.0.0.1 and follows no
/// redirects (as the harness's browser client, and as openidconnect requires).
fn https_client(root_pem: &str, port: u16) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem.as_bytes()).unwrap())
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
}

async fn spawn_tls_app() -> TestApp {
    let mut app = TestApp::builder().configure(native_tls).spawn().await;
    app.address = format!("https://localhost:{}", app.port);
    app.client = https_client(&SHARED.0.root_pem, app.port)
        .cookie_store(true)
        .build()
        .unwrap();
    app
}

fn query_param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_trusting_the_test_ca_runs_the_code_flow_over_native_tls() {
    let app = spawn_tls_app().await;
    app.create_user("tess").await;
    let rp = app.register_client(ClientSpec {
        first_party: false,
        ..Default::default()
    });
    let http = https_client(&SHARED.0.root_pem, app.port).build().unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery over https");
    assert_eq!(metadata.issuer().as_str(), app.address);
    assert!(
        metadata
            .token_endpoint()
            .unwrap()
            .as_str()
            .starts_with("https://localhost:")
    );
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        Some(ClientSecret::new(rp.client_secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(app.url("/introspect")).unwrap())
    .set_revocation_url(RevocationUrl::new(app.url("/revoke")).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf_state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    // With an https issuer every cookie the sign-in sets is `Secure`.
    let browser = https_client(&SHARED.0.root_pem, app.port)
        .cookie_store(true)
        .build()
        .unwrap();
    let signed_in = app.login_with(&browser, "tess", GOOD_PASSWORD, None).await;
    assert_eq!(signed_in.status(), 303);
    let cookies: Vec<_> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty());
    for cookie in &cookies {
        assert!(cookie.contains("; Secure"), "not Secure: {cookie}");
    }

    let callback = app
        .browse_authorize(&browser, auth_url.as_str(), None)
        .await;
    assert!(
        callback.as_str().starts_with(&rp.redirect_uri),
        "{callback}"
    );
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(csrf_state.secret().as_str())
    );
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(app.address.as_str())
    );
    let code = query_param(&callback, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange over https");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies against the JWKS fetched over https");
    assert_eq!(claims.issuer().as_str(), app.address);

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), claims.subject());

    // openidconnect revokes only over https (RFC 7009 §2), which it now is.
    client
        .revoke_token(tokens.access_token().into())
        .expect("an https revocation endpoint")
        .request_async(&http)
        .await
        .expect("revocation");
    let introspection = client
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!introspection.active());
}

#[tokio::test]
async fn the_tls_port_refuses_plain_http() {
    let app = spawn_tls_app().await;
    let ok = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    // RFC 6797 §7.1: sent over the secure transport the binary now provides itself.
    assert_eq!(
        ok.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // The certificate names 127.0.0.1 too.
    let by_ip = app
        .client
        .get(format!("https://127.0.0.1:{}/healthz", app.port))
        .send()
        .await
        .unwrap();
    assert_eq!(by_ip.status(), 200);

    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", app.port))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
}

/// A ClientHello whose `legacy_version` is `version` and that offers no `supported_versions`
/// extension, so that `version` is the highest the client speaks (RFC 8446 §4.1.2, §D.2): ECDHE
/// suites with GCM and CBC, and the groups and signature algorithms for the test's P-256 key.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1.
    extensions.extend([0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed.
    extensions.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
    extensions.extend([
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
    ]);
    let mut body = Vec::new();
    body.extend(version);
    body.extend([0x5a; 32]);
    body.push(0); // no session id
    // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ..._RSA_..., TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
    // TLS_RSA_WITH_AES_128_CBC_SHA.
    body.extend([0x00, 0x08, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x09, 0x00, 0x2f]);
    body.extend([0x01, 0x00]); // compression: null
    body.extend(u16::try_from(extensions.len()).unwrap().to_be_bytes());
    body.extend(extensions);

    let mut handshake = vec![0x01, 0x00];
    handshake.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend(handshake);
    record
}

/// The first record the server answers `hello` with: (content type, its first bytes).
fn first_record(port: u16, hello: &[u8]) -> (u8, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(hello).unwrap();
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).unwrap();
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]])).min(64)];
    stream.read_exact(&mut payload).unwrap();
    (header[0], payload)
}

#[tokio::test]
async fn tls_1_1_is_refused_and_tls_1_2_is_served() {
    let app = spawn_tls_app().await;
    let port = app.port;
    let (tls11, tls12) = tokio::task::spawn_blocking(move || {
        (
            first_record(port, &client_hello([0x03, 0x02])),
            first_record(port, &client_hello([0x03, 0x03])),
        )
    })
    .await
    .unwrap();
    // RFC 8446 §6: a fatal (2) protocol_version (70) alert (content type 21).
    assert_eq!(tls11, (21, vec![2, 70]), "TLS 1.1 ClientHello");
    // The same hello as TLS 1.2 gets a ServerHello: a handshake record (22), message type 2.
    assert_eq!(tls12.0, 22, "TLS 1.2 ClientHello answered with {tls12:?}");
    assert_eq!(tls12.1[0], 2);

    // And a real TLS 1.2 client (rustls through reqwest) completes a request; 1.3 is the default.
    let tls12_only = https_client(&SHARED.0.root_pem, port)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let response = tls12_only.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// A server built directly (not through the harness), to reach its [`ServerCertificates`].
struct DirectApp {
    port: u16,
    certificates: Arc<ServerCertificates>,
    handle: actix_web::dev::ServerHandle,
    redis: Option<(String, String)>,
    _db: TestDatabase,
}

impl Drop for DirectApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some((url, prefix)) = &self.redis
            && let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

fn tls_settings(db_url: &str, port: u16, cert_file: &Path, key_file: &Path) -> Settings {
    let mut settings = Settings::defaults().unwrap();
    settings.server.issuer = format!("https://localhost:{port}").parse().unwrap();
    settings.server.workers = 1;
    settings.server.shutdown_timeout_secs = 1;
    settings.metrics.listen = gatehouse_server::metrics::MetricsListen::Off;
    settings.server.tls_cert_file = Some(cert_file.to_owned());
    settings.server.tls_key_file = Some(key_file.to_owned());
    settings.database.url = db_url.to_owned().into();
    settings.database.max_connections = 4;
    settings.email.file_dir = std::env::temp_dir().join("gatehouse-test-mail");
    settings.passwords.memory_kib = gatehouse_tests::TEST_ARGON2_MEMORY_KIB;
    settings.passwords.iterations = 1;
    let mut master = [0u8; 32];
    master[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    master[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    settings.keys.master_key =
        Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master).into());
    settings
}

async fn spawn_direct(pair: &ServerPair) -> DirectApp {
    let db = tokio::task::spawn_blocking(TestDatabase::create)
        .await
        .unwrap()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = tls_settings(db.url(), port, &pair.cert_file, &pair.key_file);
    let prefix = format!("gh_test:{}:", uuid::Uuid::new_v4().simple());
    let redis = test_redis_url();
    settings.sessions.redis_url = redis.clone().map(Into::into);
    settings.sessions.key_prefix = prefix.clone();
    let clock = ManualClock::new(chrono::Utc::now());
    let app = Application::build_with_listener(settings, listener, Arc::new(clock))
        .await
        .expect("build the application");
    let certificates = app.tls().expect("TLS is on");
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    DirectApp {
        port,
        certificates,
        handle,
        redis: redis.map(|url| (url, prefix)),
        _db: db,
    }
}

/// The leaf certificate the response's connection was set up with, as the test's name for it.
fn served_certificate(response: &reqwest::Response) -> &'static str {
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the peer certificate");
    let pairs = NAMED.lock().unwrap();
    pairs
        .iter()
        .find(|(_, known)| known.as_slice() == der)
        .map_or("an unknown certificate", |(name, _)| *name)
}

/// The leaf certificates the reload test issued, by name, so that assertions print names.
static NAMED: std::sync::Mutex<Vec<(&'static str, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

fn remember(name: &'static str, pair: &ServerPair) {
    NAMED.lock().unwrap().push((name, pair.leaf_der.clone()));
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_to_new_handshakes_and_keeps_open_connections() {
    let pki = TestPki::new();
    let first = pki.issue("first");
    remember("first", &first);
    let app = spawn_direct(&first).await;
    let url = format!("https://localhost:{}/healthz", app.port);

    // A pooled keep-alive connection, opened before the reload.
    let kept = https_client(&pki.root_pem, app.port)
        .pool_idle_timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let before = kept.get(&url).send().await.unwrap();
    assert_eq!(before.status(), 200);
    assert_eq!(served_certificate(&before), "first");

    // The operator replaces the files in place and signals; here the reload is called directly.
    let second = pki.issue("second");
    remember("second", &second);
    std::fs::rename(&second.cert_file, &first.cert_file).unwrap();
    std::fs::rename(&second.key_file, &first.key_file).unwrap();
    app.certificates.reload().expect("the new pair loads");
    assert_eq!(
        app.certificates.current_certificate().as_ref(),
        second.leaf_der
    );

    // The open connection still answers, on the session it negotiated with the first
    // certificate (a new connection would have shown the second).
    let on_kept = kept.get(&url).send().await.unwrap();
    assert_eq!(on_kept.status(), 200);
    assert_eq!(served_certificate(&on_kept), "first");
    // A new handshake gets the new certificate.
    let fresh = https_client(&pki.root_pem, app.port).build().unwrap();
    let after = fresh.get(&url).send().await.unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(served_certificate(&after), "second");

    // A bad new pair (the key of another certificate) is refused and the current one stays.
    let third = pki.issue("third");
    std::fs::copy(&third.key_file, &first.key_file).unwrap();
    let err = app.certificates.reload().unwrap_err().to_string();
    assert!(err.contains("server.tls_key_file"), "{err}");
    assert!(err.contains("does not match"), "{err}");
    let still = https_client(&pki.root_pem, app.port).build().unwrap();
    let response = still.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(served_certificate(&response), "second");
}

#[tokio::test]
async fn a_bad_certificate_or_key_stops_the_start_naming_the_key() {
    let pki = TestPki::new();
    let good = pki.issue("good");
    let other = pki.issue("other");
    let missing = pki.dir.join("missing.pem");
    let not_pem = pki.dir.join("not-pem.txt");
    std::fs::write(&not_pem, "just text, no PEM sections\n").unwrap();
    let key_only = &good.key_file;

    let cases: [(&Path, &Path, &[&str]); 5] = [
        (
            &missing,
            &good.key_file,
            &["server.tls_cert_file", "cannot read"],
        ),
        (
            &not_pem,
            &good.key_file,
            &["server.tls_cert_file", "no PEM certificate"],
        ),
        (
            key_only,
            &good.key_file,
            &["server.tls_cert_file", "no PEM certificate"],
        ),
        (
            &good.cert_file,
            &not_pem,
            &["server.tls_key_file", "no PEM private key"],
        ),
        (
            &good.cert_file,
            &other.key_file,
            &["server.tls_key_file", "does not match"],
        ),
    ];
    for (cert, key, expected) in cases {
        let err = ServerCertificates::load(cert, key).unwrap_err().to_string();
        for part in expected {
            assert!(err.contains(part), "{cert:?} + {key:?}: {err}");
        }
    }

    // The application refuses to start on it, before it opens the database.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let db = pki.dir.join("never-created.db");
    let settings = tls_settings(
        &format!("sqlite://{}", db.display()),
        port,
        &good.cert_file,
        &other.key_file,
    );
    let clock = ManualClock::new(chrono::Utc::now());
    let Err(err) = Application::build_with_listener(settings, listener, Arc::new(clock)).await
    else {
        panic!("started with a key that does not match its certificate");
    };
    assert!(
        format!("{err:#}").contains("server.tls_key_file"),
        "{err:#}"
    );
    assert!(!db.exists());
}
