//! The outpost's HTTP listener: `/outpost.gatehouse/ping` and the nginx forward-auth
//! answer, decided from the enforced state. (The pingora proxy with every front
//! proxy's endpoint and the sign-in comes with the outpost issue; this listener is
//! what the control channel's behaviour is observed through until then.)

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{COOKIE, HOST, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::decide::{self, Verdict};
use crate::state::Outpost;

/// Every path of the outpost starts with this.
pub const PREFIX: &str = "/outpost.gatehouse/";

/// Serves `listener` for ever.
pub async fn serve(listener: TcpListener, outpost: Arc<Outpost>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let outpost = outpost.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let outpost = outpost.clone();
                async move { Ok::<_, Infallible>(answer(&outpost, &req)) }
            });
            if let Err(err) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}

fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The answer to one request (also what the server's embedded outpost answers on
/// the core's listeners).
pub fn answer<B>(outpost: &Outpost, req: &Request<B>) -> Response<Full<Bytes>> {
    match req.uri().path().strip_prefix(PREFIX) {
        Some("ping") => status(StatusCode::NO_CONTENT),
        Some("auth/nginx") => auth_nginx(outpost, req),
        _ => status(StatusCode::NOT_FOUND),
    }
}

/// nginx's `auth_request`: 200 with the identity, 401 to sign in, 403 refused.
fn auth_nginx<B>(outpost: &Outpost, req: &Request<B>) -> Response<Full<Bytes>> {
    let original = header(req, "x-original-url");
    let from_original = original.and_then(|u| u.split_once("://")).map(|(_, rest)| {
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        (host, path)
    });
    let host = header(req, "x-forwarded-host")
        .or(from_original.map(|(h, _)| h))
        .or(header(req, HOST.as_str()))
        .unwrap_or_default();
    let path = header(req, "x-original-uri")
        .or(header(req, "x-forwarded-uri"))
        .or(from_original.map(|(_, p)| p))
        .unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let cookies = header(req, COOKIE.as_str()).unwrap_or_default();
    let verdict = decide::decide(
        &outpost.enforced(),
        &outpost.revoked(),
        decide::Request {
            host,
            path,
            cookies,
        },
        time::OffsetDateTime::now_utc(),
    );
    match verdict {
        Verdict::Allow(session) => {
            let mut response = status(StatusCode::OK);
            if let Some(session) = session {
                let headers = response.headers_mut();
                let mut put = |name: &'static str, value: &str| {
                    if let Ok(value) = HeaderValue::from_str(value) {
                        headers.insert(HeaderName::from_static(name), value);
                    }
                };
                put("x-gatehouse-username", &session.username);
                put("x-gatehouse-uid", &session.uid.to_string());
                put("x-gatehouse-email", &session.email);
                put("x-gatehouse-name", &session.name);
                put("x-gatehouse-groups", &session.groups.join("|"));
            }
            response
        }
        Verdict::SignIn => status(StatusCode::UNAUTHORIZED),
        Verdict::Forbidden { .. } => status(StatusCode::FORBIDDEN),
        Verdict::UnknownHost => {
            tracing::debug!(%host, "no provider serves this host");
            status(StatusCode::FORBIDDEN)
        }
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
