//! The headers that harden every response, added by one middleware ([`SecurityHeaders`]).
//!
//! - Every response: `X-Content-Type-Options: nosniff` (a JSON body is never sniffed into a
//!   script or a page), `Referrer-Policy: no-referrer` (URLs with codes, states and user codes in
//!   them never leak to another site), `X-Frame-Options: DENY` for browsers without CSP level 2,
//!   and `Strict-Transport-Security` (RFC 6797 §6.1) when the issuer is https: with native TLS,
//!   and behind a TLS-terminating proxy alike, since the issuer is what browsers are sent to.
//! - HTML pages: a Content-Security-Policy (CSP Level 3) with no `unsafe-inline` and no
//!   `unsafe-eval` — the templates carry no inline script, style or event handler; the styles
//!   are `/static/gatehouse.css` and the one script, on the admin console only, is htmx — with
//!   `default-src 'none'`, `frame-ancestors 'none'` (no clickjacking of consent or sign-in),
//!   `base-uri 'none'`, and `form-action 'self'` plus, per page, the origins its forms may be
//!   redirected to ([`form_redirects_to`], [`form_redirects_to_client`], [`form_continues_to`]);
//!   and a `Permissions-Policy` that switches off the powerful features no page uses.
//! - Anything else without a policy of its own (the API docs bring theirs): a CSP that lets the
//!   document load nothing and be framed by no one, should a browser open it.
//!
//! `form-action` applies to the redirects that follow a form's submission too (CSP Level 3
//! §6.4.1, as Chromium enforces it): the consent page posts to `/authorize`, which answers with a
//! redirect to the client's `redirect_uri`; sign-in, second-factor, sign-up and verification
//! pages that carry a `return_to` of `/authorize` lead there through one more redirect; the
//! logout confirmation leads to the `post_logout_redirect_uri`. Those pages name the client or
//! the validated URI through the request's extensions, and the middleware adds the origins of
//! the client's registered redirect URIs (never one taken from the request unchecked).

use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::{HttpMessage, HttpRequest, web};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use crate::app::AppState;

/// The policy of a page with no script. `form-action` comes last so a page's extra origins can
/// follow it.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The admin console's pages: htmx (`/static/htmx.min.js`) and the requests it makes.
const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

/// Anything that is not a page: load nothing, be framed by no one.
const NON_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The powerful features, all unused by every page. Only names Chromium knows: an unknown one
/// is a console error on every page.
const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), display-capture=(), \
    geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), \
    publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), \
    xr-spatial-tracking=()";

/// One year (RFC 6797 §6.1.1). No `includeSubDomains`: other hosts of the operator's domain
/// are not ours to pin to https.
const HSTS: &str = "max-age=31536000";

const PERMISSIONS_POLICY_HEADER: HeaderName = HeaderName::from_static("permissions-policy");

/// Where a page's forms may lead besides its own origin; kept in the request's extensions.
#[derive(Debug, Default, Clone)]
struct FormTargets {
    /// Sources already derived from a validated URI.
    sources: Vec<String>,
    /// Clients whose registered redirect URIs the forms may lead to.
    clients: Vec<String>,
}

fn with_targets(req: &HttpRequest, add: impl FnOnce(&mut FormTargets)) {
    let mut extensions = req.extensions_mut();
    if let Some(targets) = extensions.get_mut::<FormTargets>() {
        add(targets);
    } else {
        let mut targets = FormTargets::default();
        add(&mut targets);
        extensions.insert(targets);
    }
}

/// The page's form is answered with a redirect to `uri`, which the protocol core validated
/// (a registered `post_logout_redirect_uri`).
pub fn form_redirects_to(req: &HttpRequest, uri: &str) {
    if let Some(source) = form_action_source(uri) {
        with_targets(req, |targets| targets.sources.push(source));
    }
}

/// The page's form is answered with a redirect to one of `client_id`'s registered redirect URIs
/// (the consent page).
pub fn form_redirects_to_client(req: &HttpRequest, client_id: &str) {
    with_targets(req, |targets| targets.clients.push(client_id.to_owned()));
}

/// The page's form is answered with a redirect to `return_to` (a local path, see
/// `crate::browser::safe_return_to`); when that is an authorization request, it may redirect on
/// to its client.
pub fn form_continues_to(req: &HttpRequest, return_to: &str) {
    if let Some(client_id) = authorization_client(return_to) {
        form_redirects_to_client(req, &client_id);
    }
}

/// The `client_id` of a `/authorize?…` path.
fn authorization_client(path: &str) -> Option<String> {
    let query = path.strip_prefix("/authorize?")?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "client_id")
        .map(|(_, value)| value.into_owned())
}

/// The CSP source (CSP Level 3 §2.3.1) that admits form submissions to `uri`: its origin for a
/// web URL, its scheme for a native app's private-use scheme (RFC 8252 §7.1). `None` for what a
/// source expression cannot name (an IPv6 literal) or must never admit (script-bearing schemes).
fn form_action_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => {
            if matches!(url.host(), Some(url::Host::Ipv6(_))) {
                return None;
            }
            Some(url.origin().ascii_serialization())
        }
        "javascript" | "data" | "blob" | "filesystem" | "file" | "about" => None,
        scheme => Some(format!("{scheme}:")),
    }
}

/// Adds the security headers; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    hsts: bool,
}

impl SecurityHeaders {
    /// HSTS is sent when `issuer` is https.
    pub fn for_issuer(issuer: &str) -> Self {
        Self {
            hsts: issuer.starts_with("https://"),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SecurityHeaders
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = SecurityHeadersMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SecurityHeadersMiddleware {
            service: Rc::new(service),
            hsts: self.hsts,
        }))
    }
}

pub struct SecurityHeadersMiddleware<S> {
    service: Rc<S>,
    hsts: bool,
}

impl<S, B> Service<ServiceRequest> for SecurityHeadersMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let hsts = self.hsts;
        Box::pin(async move {
            let mut res = service.call(req).await?;
            add_common(res.headers_mut(), hsts);
            if is_html(res.headers()) {
                let policy = page_policy(&res).await;
                let headers = res.headers_mut();
                if !headers.contains_key(CONTENT_SECURITY_POLICY) {
                    headers.insert(CONTENT_SECURITY_POLICY, policy);
                }
                insert_absent(
                    headers,
                    PERMISSIONS_POLICY_HEADER,
                    HeaderValue::from_static(PERMISSIONS_POLICY),
                );
            } else {
                insert_absent(
                    res.headers_mut(),
                    CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(NON_PAGE_POLICY),
                );
            }
            Ok(res)
        })
    }
}

fn insert_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !headers.contains_key(&name) {
        headers.insert(name, value);
    }
}

fn add_common(headers: &mut HeaderMap, hsts: bool) {
    insert_absent(
        headers,
        X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    insert_absent(
        headers,
        REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    insert_absent(headers, X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if hsts {
        insert_absent(
            headers,
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

/// The page's policy: the console's or a plain page's, with the origins its forms lead to.
async fn page_policy<B>(res: &ServiceResponse<B>) -> HeaderValue {
    let base = if res.request().path().starts_with("/admin") {
        CONSOLE_POLICY
    } else {
        PAGE_POLICY
    };
    let targets = res.request().extensions_mut().remove::<FormTargets>();
    let Some(targets) = targets else {
        return HeaderValue::from_static(base);
    };
    let state = res.request().app_data::<web::Data<AppState>>().cloned();
    let mut sources = targets.sources;
    if let Some(state) = state {
        for client_id in &targets.clients {
            for uri in state.authz.client_redirect_uris(client_id).await {
                sources.extend(form_action_source(&uri));
            }
        }
    }
    sources.sort();
    sources.dedup();
    let mut policy = base.to_owned();
    for source in &sources {
        policy.push(' ');
        policy.push_str(source);
    }
    // Every source is an ASCII origin or scheme; should one ever not be, the page keeps the
    // policy without it rather than going without one.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_sources_are_origins_or_private_schemes() {
        assert_eq!(
            form_action_source("https://rp.example/cb?x=1#f").as_deref(),
            Some("https://rp.example")
        );
        assert_eq!(
            form_action_source("http://127.0.0.1:8080/callback").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            form_action_source("com.example.app:/oauth2redirect").as_deref(),
            Some("com.example.app:")
        );
        for refused in [
            "javascript:alert(1)",
            "data:text/html,x",
            "http://[::1]:8080/cb",
            "not a url",
            "/relative",
        ] {
            assert_eq!(form_action_source(refused), None, "{refused}");
        }
    }

    #[test]
    fn only_authorization_requests_name_a_client() {
        assert_eq!(
            authorization_client("/authorize?response_type=code&client_id=my%20app").as_deref(),
            Some("my app")
        );
        assert_eq!(authorization_client("/account?client_id=x"), None);
        assert_eq!(authorization_client("/authorize"), None);
    }

    #[test]
    fn no_policy_admits_inline_code() {
        for policy in [PAGE_POLICY, CONSOLE_POLICY, NON_PAGE_POLICY] {
            assert!(!policy.contains("unsafe"), "{policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        }
    }
}
