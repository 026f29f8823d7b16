//! Every resource of the app is built here, so a method it does not serve is answered the same
//! way everywhere: 405 with `Allow` listing the methods it does serve (RFC 9110 §15.5.6), in the
//! format of the surface the resource belongs to. `Allow` is collected from the routes as they are
//! added, so it cannot drift from them.
//!
//! - HEAD is served by the GET handler on resources without side effects ([`Endpoint::get`]);
//!   actix-http sends the headers and drops the body. `/authorize` and `/logout` register GET
//!   with [`Endpoint::get_without_head`]: there a GET issues a code or ends a session, which a
//!   link checker's HEAD must not do. So does `/userinfo`, which OIDC Core §5.3 defines for GET
//!   and POST only.
//! - OPTIONS is a 405 with `Allow` like any other unsupported method: there is no CORS yet, and
//!   `Allow` already tells a client what it could have asked.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{ALLOW, CACHE_CONTROL, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Responder, ResponseError, guard, web,
};

use crate::pages::PageError;
use crate::problem::{Problem, ProblemKind};

/// Who calls a resource, and so in which format it answers a wrong method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// OAuth 2 / OIDC JSON endpoints (token, introspection, revocation, userinfo): an RFC 6749
    /// §5.2 `invalid_request` body, the only code that protocol has for it.
    OAuth,
    /// Machine-read JSON outside the protocol's error model (health probes, discovery, JWKS):
    /// `{"error": "method_not_allowed", "error_description": …}`.
    Json,
    /// What a browser navigates to (pages, `/authorize`, `/logout`): the HTML error page.
    Page,
    /// The REST API: `application/problem+json` (RFC 9457).
    Api,
}

/// A resource under construction: its routes so far and the methods they serve.
pub struct Endpoint {
    resource: actix_web::Resource,
    surface: Surface,
    allow: Vec<Method>,
}

/// Starts the resource at `path`; add its routes, then hand it to `ServiceConfig::service`.
pub fn resource(path: &str, surface: Surface) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        surface,
        allow: Vec::new(),
    }
}

impl Endpoint {
    /// GET, and HEAD through the same handler.
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.extend([Method::GET, Method::HEAD]);
        self.resource = self.resource.route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        );
        self
    }

    /// GET only, for a GET with side effects (see the module documentation).
    pub fn get_without_head<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push(Method::GET);
        self.resource = self.resource.route(web::get().to(handler));
        self
    }

    pub fn post<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push(Method::POST);
        self.resource = self.resource.route(web::post().to(handler));
        self
    }

    pub fn delete<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push(Method::DELETE);
        self.resource = self.resource.route(web::delete().to(handler));
        self
    }

    pub fn patch<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push(Method::PATCH);
        self.resource = self.resource.route(web::patch().to(handler));
        self
    }

    pub fn put<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.allow.push(Method::PUT);
        self.resource = self.resource.route(web::put().to(handler));
        self
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = self
            .allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        // Method names are tokens, so this cannot fail; an empty header would still be valid.
        let allow = HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static(""));
        let surface = self.surface;
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                let allow = allow.clone();
                async move { method_not_allowed(surface, &req, allow) }
            }))
            .register(config);
    }
}

/// The 405 of one surface, with `Allow`.
fn method_not_allowed(surface: Surface, req: &HttpRequest, allow: HeaderValue) -> HttpResponse {
    let description = format!(
        "{} is not supported on {}; use {}",
        req.method(),
        req.path(),
        allow.to_str().unwrap_or_default()
    );
    let mut response = match surface {
        Surface::OAuth => {
            HttpResponse::MethodNotAllowed().json(crate::oidc::invalid_request(description).body())
        }
        Surface::Json => HttpResponse::MethodNotAllowed().json(serde_json::json!({
            "error": "method_not_allowed",
            "error_description": description,
        })),
        Surface::Page => PageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            format!("This address does not accept {} requests.", req.method()),
        )
        .error_response(),
        Surface::Api => Problem::new(ProblemKind::MethodNotAllowed, description).error_response(),
    };
    let headers = response.headers_mut();
    headers.insert(ALLOW, allow);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
