//! The outpost's HTTP endpoints: `ping`, the nginx forward-auth answer (decided from
//! the enforced state), and the sign-in (`start`, `callback`, `sign_out`). Served on a
//! small hyper listener until the pingora proxy (the outpost issue) takes over, and
//! by the server for its embedded outpost.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{COOKIE, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::decide::{self, Verdict};
use crate::signin::{self, Core};
use crate::state::Outpost;

/// Every path of the outpost starts with this.
pub const PREFIX: &str = "/outpost.gatehouse/";

/// An outpost's endpoints: its enforced state and the core its sign-in talks to.
#[derive(Debug)]
pub struct Endpoints {
    /// What is enforced.
    pub outpost: Arc<Outpost>,
    /// The core.
    pub core: Core,
}

/// Serves `listener` for ever.
pub async fn serve(listener: TcpListener, endpoints: Arc<Endpoints>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let endpoints = endpoints.clone();
                async move { Ok::<_, Infallible>(endpoints.answer(&req).await) }
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

impl Endpoints {
    /// The answer to one request (also what the server's embedded outpost answers
    /// on the core's listeners).
    pub async fn answer<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match req.uri().path().strip_prefix(PREFIX) {
            Some("ping") => status(StatusCode::NO_CONTENT),
            Some("auth/nginx") => auth_nginx(&self.outpost, req),
            Some("start") => signin::start(&self.outpost, &self.core, req, now),
            Some("callback") => signin::callback(&self.outpost, &self.core, req, now).await,
            Some("sign_out") => signin::sign_out(&self.outpost, &self.core, req),
            _ => status(StatusCode::NOT_FOUND),
        }
    }
}

/// nginx's `auth_request`: 200 with the identity, 401 to sign in, 403 refused.
///
/// The request being decided is named by `X-Original-URL` alone, which the nginx
/// configuration sets (`proxy_set_header X-Original-URL $scheme://$http_host$request_uri`)
/// and so replaces whatever the client sent. Other headers a front proxy may pass
/// through unchanged (`X-Forwarded-Host`, `X-Forwarded-Uri`…) would let a client pick
/// the host or path decided, so they are not read. Without it: 400, which nginx
/// reports as a configuration error.
fn auth_nginx<B>(outpost: &Outpost, req: &Request<B>) -> Response<Full<Bytes>> {
    let original = header(req, "x-original-url").and_then(|u| u.parse::<hyper::Uri>().ok());
    let Some((host, path)) = original
        .as_ref()
        .and_then(|uri| Some((uri.authority()?.as_str(), uri.path())))
    else {
        tracing::warn!(
            "auth/nginx without a readable X-Original-URL: set it in the nginx configuration"
        );
        return status(StatusCode::BAD_REQUEST);
    };
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

#[cfg(test)]
mod tests {
    use gatehouse_config::objects::ProxyMode;

    use super::*;
    use crate::session::{cookie_name, key_of, seal};
    use crate::testing::{SECRET, session, snapshot};

    async fn outpost() -> Arc<Outpost> {
        let outpost = Outpost::new(None);
        outpost
            .apply_config("v1".into(), snapshot(ProxyMode::ForwardSingle))
            .await;
        outpost
    }

    fn ask(outpost: &Outpost, headers: &[(&str, &str)]) -> StatusCode {
        let mut req = Request::get("/outpost.gatehouse/auth/nginx");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        auth_nginx(outpost, &req.body(()).unwrap()).status()
    }

    #[tokio::test]
    async fn the_decided_request_is_the_one_x_original_url_names() {
        let outpost = outpost().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let name = cookie_name(uuid::Uuid::from_u128(7));
        let cookie = format!(
            "{name}={}",
            seal(&key_of(SECRET), &name, &session("ada", &["ops"], now))
        );
        let original = "https://prom.example.org/graph?g0.expr=up";
        assert_eq!(
            ask(
                &outpost,
                &[("x-original-url", original), ("cookie", &cookie)]
            ),
            StatusCode::OK
        );
        assert_eq!(
            ask(&outpost, &[("x-original-url", original)]),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ask(
                &outpost,
                &[("x-original-url", "https://prom.example.org/-/healthy")]
            ),
            StatusCode::OK
        );
        // A client's own forwarding headers do not move the decision to a skipped
        // path or to another host.
        assert_eq!(
            ask(
                &outpost,
                &[
                    ("x-original-url", original),
                    ("x-forwarded-uri", "/-/healthy"),
                    ("x-original-uri", "/-/healthy"),
                    ("x-forwarded-host", "other.example.org"),
                ]
            ),
            StatusCode::UNAUTHORIZED
        );
        // No X-Original-URL, or one that does not parse: a configuration error.
        assert_eq!(
            ask(&outpost, &[("host", "prom.example.org")]),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ask(&outpost, &[("x-original-url", "/graph")]),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ask(&outpost, &[("x-original-url", "ht tp://x y")]),
            StatusCode::BAD_REQUEST
        );
    }
}
