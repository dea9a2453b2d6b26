//! The outpost's endpoints under `/outpost.gatehouse/`: `ping`, the forward-auth
//! answers of each front proxy (`auth/nginx`, `auth/traefik`, `auth/caddy`,
//! `auth/envoy`), the sign-in (`start`, `callback`, `sign_out`) and `denied`, the
//! page naming an application a user may not open. Framework-free: the pingora
//! listener ([`crate::proxy`]) and the server's embedded outpost both call
//! [`Endpoints::answer`] with the request's head.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, LOCATION};
pub use hyper::http::request::Parts;
use hyper::{Response, StatusCode, Uri};
use openidconnect::url::form_urlencoded;
use time::OffsetDateTime;

use crate::decide::{self, Verdict, provider_for};
use crate::signin::{self, Core};
use crate::state::Outpost;

/// Every path of the outpost starts with this.
pub const PREFIX: &str = "/outpost.gatehouse/";

/// What an endpoint answers: a head and a small body.
pub type Answer = Response<Full<Bytes>>;

/// An outpost's endpoints: its enforced state and the core its sign-in talks to.
#[derive(Debug)]
pub struct Endpoints {
    /// What is enforced.
    pub outpost: Arc<Outpost>,
    /// The core.
    pub core: Core,
}

/// The front proxy asking, which says where the decided request is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// `auth_request`: `X-Original-URL`, which the nginx configuration sets (and so
    /// replaces whatever the client sent). nginx passes the client's other headers
    /// through unchanged, so `X-Forwarded-*` are not read: a client could pick a
    /// skipped path with them. A missing login is a 401.
    Nginx,
    /// `forwardAuth`: `X-Forwarded-Proto`, `-Host` and `-Uri`, which traefik sets
    /// from the request (and overwrites unless `trustForwardHeader` is on). A
    /// missing login is a 302 to `start`.
    Traefik,
    /// `forward_auth`: the same headers, set by caddy (`X-Forwarded-Uri` by the
    /// directive, the others by `reverse_proxy`, which overwrites a client's unless
    /// it comes from a trusted proxy).
    Caddy,
    /// `ext_authz` (HTTP service, `path_prefix: /outpost.gatehouse/auth/envoy`): the
    /// original path follows the prefix and `Host` is the original authority.
    Envoy,
}

impl Front {
    fn of(endpoint: &str) -> Option<Self> {
        match endpoint {
            "auth/nginx" => Some(Self::Nginx),
            "auth/traefik" => Some(Self::Traefik),
            "auth/caddy" => Some(Self::Caddy),
            e if e == "auth/envoy" || e.starts_with("auth/envoy/") => Some(Self::Envoy),
            _ => None,
        }
    }

    /// The URL of the request being decided, absolute; `None` when the headers that
    /// name it are missing or do not make a URL.
    fn original(self, req: &Parts) -> Option<Uri> {
        let proto = match header(req, "x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let text = match self {
            Self::Nginx => header(req, "x-original-url")?.to_owned(),
            Self::Traefik | Self::Caddy => {
                let host = header(req, "x-forwarded-host")?;
                let uri = header(req, "x-forwarded-uri").unwrap_or("/");
                if !uri.starts_with('/') {
                    return None;
                }
                format!("{proto}://{host}{uri}")
            }
            Self::Envoy => {
                let host = req
                    .uri
                    .authority()
                    .map(|a| a.as_str())
                    .or_else(|| header(req, HOST.as_str()))?;
                let rest = req
                    .uri
                    .path_and_query()?
                    .as_str()
                    .strip_prefix("/outpost.gatehouse/auth/envoy")?;
                let slash = if rest.starts_with('/') { "" } else { "/" };
                format!("{proto}://{host}{slash}{rest}")
            }
        };
        // From the String itself: `parse` would copy it once more.
        let uri = Uri::try_from(text).ok()?;
        let web = matches!(uri.scheme_str(), Some("http" | "https"));
        (web && uri.authority().is_some()).then_some(uri)
    }
}

pub(crate) fn header<'a>(req: &'a Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

impl Endpoints {
    /// The answer to one request under [`PREFIX`].
    pub async fn answer(&self, req: &Parts) -> Answer {
        let now = OffsetDateTime::now_utc();
        let Some(endpoint) = req.uri.path().strip_prefix(PREFIX) else {
            return status(StatusCode::NOT_FOUND);
        };
        if let Some(front) = Front::of(endpoint) {
            return forward_auth(&self.outpost, front, req, now);
        }
        let unix = now.unix_timestamp();
        match endpoint {
            "ping" => status(StatusCode::NO_CONTENT),
            "start" => signin::start(&self.outpost, &self.core, req, unix),
            "callback" => signin::callback(&self.outpost, &self.core, req, unix).await,
            "sign_out" => signin::sign_out(&self.outpost, &self.core, req),
            "denied" => denied(
                &self.outpost,
                header(req, HOST.as_str()).unwrap_or_default(),
            ),
            _ => status(StatusCode::NOT_FOUND),
        }
    }
}

/// A front proxy's question: 200 with the identity headers; to sign in, 401 for
/// nginx (its configuration sends the browser on) or a 302 to `start` for the
/// others; 403 with a page naming the application for a user it refuses.
fn forward_auth(outpost: &Outpost, front: Front, req: &Parts, now: OffsetDateTime) -> Answer {
    let Some(original) = front.original(req) else {
        tracing::warn!(
            ?front,
            "forward-auth request without the headers naming the original request; see config/examples"
        );
        return status(StatusCode::BAD_REQUEST);
    };
    let host = original.authority().map_or("", |a| a.as_str());
    let verdict = outpost.decide(
        decide::Request::of(host, original.path(), &req.headers),
        now,
    );
    match verdict {
        Verdict::Allow(admitted) => {
            let mut response = status(StatusCode::OK);
            response
                .headers_mut()
                .extend(admitted.headers.iter().cloned().map(|(n, v)| (Some(n), v)));
            response
        }
        Verdict::SignIn if front == Front::Nginx => status(StatusCode::UNAUTHORIZED),
        Verdict::SignIn => redirect(&sign_in_url(&original)),
        Verdict::Forbidden { application } => forbidden(&application),
        Verdict::UnknownHost => {
            tracing::debug!(%host, "no provider serves this host");
            page(
                StatusCode::FORBIDDEN,
                "No application is served on this host.",
            )
        }
    }
}

/// `start` on the original request's host, taking the browser back to it.
pub(crate) fn sign_in_url(original: &Uri) -> String {
    let scheme = original.scheme_str().unwrap_or("http");
    let authority = original.authority().map_or("", |a| a.as_str());
    let rd: String = form_urlencoded::byte_serialize(original.to_string().as_bytes()).collect();
    format!("{scheme}://{authority}{PREFIX}start?rd={rd}")
}

/// `denied`: the page a refused user sees, for the application on `host` (nginx's
/// configuration shows it for its 403s).
fn denied(outpost: &Outpost, host: &str) -> Answer {
    match provider_for(&outpost.enforced(), host) {
        Some(provider) => forbidden(provider.application_name()),
        None => page(
            StatusCode::FORBIDDEN,
            "No application is served on this host.",
        ),
    }
}

/// The 403 page naming `application`.
pub(crate) fn forbidden(application: &str) -> Answer {
    page(
        StatusCode::FORBIDDEN,
        &format!(
            "You are signed in, but you may not open {application}. Ask an administrator for access."
        ),
    )
}

pub(crate) fn redirect(to: &str) -> Answer {
    let mut response = page(StatusCode::FOUND, "");
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A small HTML page saying `text` (escaped), or an empty body when it is empty.
pub(crate) fn page(code: StatusCode, text: &str) -> Answer {
    if text.is_empty() {
        return status(code);
    }
    let mut body = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Gatehouse</title></head><body><p>",
    );
    for c in text.chars() {
        match c {
            '&' => body.push_str("&amp;"),
            '<' => body.push_str("&lt;"),
            '>' => body.push_str("&gt;"),
            '"' => body.push_str("&quot;"),
            '\'' => body.push_str("&#39;"),
            c => body.push(c),
        }
    }
    body.push_str("</p></body></html>");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub(crate) fn status(code: StatusCode) -> Answer {
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

    fn cookie_of(username: &str, groups: &[&str]) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let name = cookie_name(uuid::Uuid::from_u128(7));
        format!(
            "{name}={}",
            seal(&key_of(SECRET), &name, &session(username, groups, now))
        )
    }

    fn ask(outpost: &Outpost, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = hyper::Request::get(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        forward_auth(
            outpost,
            Front::of(&path[PREFIX.len()..]).unwrap(),
            &parts,
            OffsetDateTime::now_utc(),
        )
    }

    fn location(answer: &Answer) -> &str {
        answer.headers().get(LOCATION).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn nginx_decides_the_request_x_original_url_names_and_nothing_else() {
        let outpost = outpost().await;
        let cookie = cookie_of("ada", &["ops"]);
        let nginx = "/outpost.gatehouse/auth/nginx";
        let original = "https://prom.example.org/graph?g0.expr=up";
        let ok = ask(
            &outpost,
            nginx,
            &[("x-original-url", original), ("cookie", &cookie)],
        );
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()["x-gatehouse-username"], "ada");
        assert_eq!(ok.headers()["x-gatehouse-groups"], "ops");
        assert_eq!(
            ask(&outpost, nginx, &[("x-original-url", original)]).status(),
            StatusCode::UNAUTHORIZED
        );
        // A skipped path passes, and still names every identity header, empty.
        let skipped = ask(
            &outpost,
            nginx,
            &[("x-original-url", "https://prom.example.org/-/healthy")],
        );
        assert_eq!(skipped.status(), StatusCode::OK);
        assert_eq!(skipped.headers()["x-gatehouse-username"], "");
        // A client's own forwarding headers do not move the decision to a skipped
        // path or to another host.
        let spoofed = [
            ("x-original-url", original),
            ("x-forwarded-uri", "/-/healthy"),
            ("x-original-uri", "/-/healthy"),
            ("x-forwarded-host", "other.example.org"),
        ];
        assert_eq!(
            ask(&outpost, nginx, &spoofed).status(),
            StatusCode::UNAUTHORIZED
        );
        // No X-Original-URL, or one that is not an absolute web URL: a configuration error.
        for bad in [
            &[("host", "prom.example.org")][..],
            &[("x-original-url", "/graph")],
            &[("x-original-url", "ht tp://x y")],
            &[("x-original-url", "ftp://prom.example.org/")],
        ] {
            assert_eq!(
                ask(&outpost, nginx, bad).status(),
                StatusCode::BAD_REQUEST,
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn traefik_and_caddy_are_sent_to_sign_in_with_the_original_url_kept() {
        let outpost = outpost().await;
        for endpoint in [
            "/outpost.gatehouse/auth/traefik",
            "/outpost.gatehouse/auth/caddy",
        ] {
            let forwarded = [
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "prom.example.org"),
                ("x-forwarded-uri", "/graph?g0.expr=up&x=1"),
            ];
            let answer = ask(&outpost, endpoint, &forwarded);
            assert_eq!(answer.status(), StatusCode::FOUND);
            assert_eq!(
                location(&answer),
                "https://prom.example.org/outpost.gatehouse/start?rd=https%3A%2F%2Fprom.example.org%2Fgraph%3Fg0.expr%3Dup%26x%3D1"
            );
            let cookie = cookie_of("ada", &["ops"]);
            let mut signed_in = forwarded.to_vec();
            signed_in.push(("cookie", &cookie));
            let ok = ask(&outpost, endpoint, &signed_in);
            assert_eq!(ok.status(), StatusCode::OK);
            assert_eq!(ok.headers()["x-gatehouse-email"], "ada@example.org");
            // Outside the bound group: a page naming the application, not a login loop.
            let eve = cookie_of("eve", &["guests"]);
            let mut refused = forwarded.to_vec();
            refused.push(("cookie", &eve));
            let answer = ask(&outpost, endpoint, &refused);
            assert_eq!(answer.status(), StatusCode::FORBIDDEN);
            assert!(format!("{:?}", answer.body()).contains("Prometheus"));
            assert_eq!(
                ask(&outpost, endpoint, &[("x-forwarded-uri", "/")]).status(),
                StatusCode::BAD_REQUEST
            );
            assert_eq!(
                ask(
                    &outpost,
                    endpoint,
                    &[
                        ("x-forwarded-host", "prom.example.org"),
                        ("x-forwarded-uri", "graph")
                    ]
                )
                .status(),
                StatusCode::BAD_REQUEST
            );
        }
    }

    #[tokio::test]
    async fn envoy_names_the_original_path_after_the_prefix() {
        let outpost = outpost().await;
        let envoy = |path: &str| format!("/outpost.gatehouse/auth/envoy{path}");
        let answer = ask(
            &outpost,
            &envoy("/graph?a=1"),
            &[("host", "prom.example.org"), ("x-forwarded-proto", "http")],
        );
        assert_eq!(answer.status(), StatusCode::FOUND);
        assert_eq!(
            location(&answer),
            "http://prom.example.org/outpost.gatehouse/start?rd=http%3A%2F%2Fprom.example.org%2Fgraph%3Fa%3D1"
        );
        assert_eq!(
            ask(
                &outpost,
                &envoy("/-/healthy"),
                &[("host", "prom.example.org")]
            )
            .status(),
            StatusCode::OK
        );
        assert_eq!(
            ask(&outpost, &envoy(""), &[("host", "other.example.org")]).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ask(&outpost, &envoy("/graph"), &[]).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn the_denied_page_names_the_application_and_escapes_it() {
        let outpost = outpost().await;
        let body = |answer: Answer| format!("{:?}", answer.into_body());
        assert!(body(denied(&outpost, "prom.example.org")).contains("you may not open Prometheus"));
        assert!(body(forbidden("<b>&")).contains("&lt;b&gt;&amp;"));
        assert_eq!(
            denied(&outpost, "nowhere.example.org").status(),
            StatusCode::FORBIDDEN
        );
    }
}
