//! The outpost's pingora listener. `/outpost.gatehouse/…` is answered from
//! [`Endpoints`] (forward auth for front proxies, the sign-in); any other request is
//! for a proxy-mode provider: decided like a forward-auth question, then streamed to
//! the provider's internal host (bodies, websocket upgrades, HTTP/2 to TLS
//! upstreams) with the identity headers and `X-Forwarded-*` set by the outpost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_config::objects::ProxyProvider;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, COOKIE, HOST, HeaderValue};
use hyper::{StatusCode, Uri};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, Result};
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorType};
use time::OffsetDateTime;

use crate::decide::{self, Admitted, Verdict};
use crate::http::{Answer, Endpoints, PREFIX, forbidden, page, redirect, sign_in_url};
use crate::identity;
use crate::session::find_cookie;

/// Where a proxy-mode provider sends requests: its `internal_host`, read once.
#[derive(Debug, Clone, PartialEq)]
pub struct Internal {
    /// `host:port` to connect to.
    pub address: String,
    /// The host alone, for SNI and certificate checks.
    pub host: String,
    /// The `Host` header the upstream gets (port only when not the default).
    pub authority: String,
    /// TLS to the upstream.
    pub tls: bool,
    /// Check its certificate (`internal_host_ssl_validation`).
    pub verify: bool,
}

impl Internal {
    /// Reads `internal_host` (`http(s)://host[:port]`); `None` when it is not such
    /// a URL.
    pub fn parse(internal_host: &str, verify: bool) -> Option<Self> {
        let uri: Uri = internal_host.trim().parse().ok()?;
        let tls = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority = uri.authority()?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Some(Self {
            address,
            host: host.to_owned(),
            authority: authority.as_str().to_owned(),
            tls,
            verify,
        })
    }
}

/// A proxy-mode provider as its requests meet it, read once per config: where they
/// go, and what the outpost needs to send them there.
pub struct Upstream {
    /// Its `internal_host`.
    pub internal: Internal,
    /// `http` or `https`: the scheme of its external host, for `X-Forwarded-Proto`.
    proto: &'static str,
    /// The outpost's session cookie, which the upstream never sees.
    cookie_name: String,
    /// Its upstream metrics, registered once.
    metrics: crate::metrics::Upstream,
}

impl Upstream {
    /// The upstream of a provider with `settings`; `None` when its `internal_host`
    /// is not an http(s) URL.
    pub(crate) fn of(
        settings: &ProxyProvider,
        cookie_name: &str,
        application: Arc<str>,
    ) -> Option<Self> {
        Some(Self {
            internal: Internal::parse(
                &settings.internal_host,
                settings.internal_host_ssl_validation,
            )?,
            proto: crate::signin::scheme(settings),
            cookie_name: cookie_name.to_owned(),
            metrics: crate::metrics::Upstream::of(application),
        })
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("internal", &self.internal)
            .field("proto", &self.proto)
            .finish_non_exhaustive()
    }
}

/// The listener's logic.
pub struct Gate {
    endpoints: Arc<Endpoints>,
    /// Upstream names resolved, kept a little (a name that moves is seen again
    /// within the minute).
    resolved: moka::sync::Cache<String, SocketAddr>,
}

impl Gate {
    /// The gate answering from `endpoints`.
    pub fn new(endpoints: Arc<Endpoints>) -> Self {
        Self {
            endpoints,
            resolved: moka::sync::Cache::builder()
                .max_capacity(1024)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    async fn resolve(&self, address: &str) -> Result<SocketAddr> {
        if let Ok(addr) = address.parse::<SocketAddr>() {
            return Ok(addr);
        }
        if let Some(addr) = self.resolved.get(address) {
            return Ok(addr);
        }
        let found = tokio::net::lookup_host(address)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next());
        let Some(addr) = found else {
            return Error::e_explain(
                ErrorType::ConnectNoRoute,
                format!("cannot resolve {address}"),
            );
        };
        self.resolved.insert(address.to_owned(), addr);
        Ok(addr)
    }
}

/// What one request carries between pingora's phases.
#[derive(Default)]
pub struct Ctx {
    /// The request's provider (proxy mode, let in).
    upstream: Option<Arc<Upstream>>,
    /// Who it was let in as.
    admitted: Option<Arc<Admitted>>,
    /// The original `Host`, for `X-Forwarded-Host`.
    host: String,
    /// When the request was sent upstream.
    sent: Option<Instant>,
}

/// What the outpost does with a request that is not for its endpoints.
enum Route {
    Answer(Answer),
    Proxy {
        upstream: Arc<Upstream>,
        admitted: Arc<Admitted>,
    },
}

fn host_of(req: &RequestHeader) -> Option<&str> {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get(HOST).and_then(|v| v.to_str().ok()))
}

impl Gate {
    /// Decides a proxy-mode request (no awaits: the enforced state is only borrowed).
    fn route(&self, req: &RequestHeader) -> Route {
        let Some(host) = host_of(req) else {
            return Route::Answer(page(StatusCode::BAD_REQUEST, "The request names no host."));
        };
        let decided = self.endpoints.outpost.decide_where(
            decide::Request::of(host, req.uri.path(), &req.headers),
            OffsetDateTime::now_utc(),
            |provider| provider.upstream.clone(),
        );
        let Some((verdict, upstream)) = decided else {
            return Route::Answer(page(
                StatusCode::NOT_FOUND,
                "No application is served on this host.",
            ));
        };
        match verdict {
            Verdict::Allow(admitted) => Route::Proxy { upstream, admitted },
            Verdict::SignIn => {
                let pq = req.uri.path_and_query().map_or("/", |p| p.as_str());
                match format!("{}://{host}{pq}", upstream.proto).parse::<Uri>() {
                    Ok(original) => Route::Answer(redirect(&sign_in_url(&original))),
                    Err(_) => Route::Answer(page(
                        StatusCode::BAD_REQUEST,
                        "The request's URL cannot be read.",
                    )),
                }
            }
            Verdict::Forbidden { application } => Route::Answer(forbidden(&application)),
            Verdict::UnknownHost => Route::Answer(page(
                StatusCode::NOT_FOUND,
                "No application is served on this host.",
            )),
        }
    }
}

/// `cookies` (one `Cookie` header's value) without the cookie named `name`; `None`
/// when it has no such cookie.
fn without_cookie(cookies: &str, name: &str) -> Option<String> {
    let is_ours = |pair: &str| {
        pair.trim()
            .split_once('=')
            .is_some_and(|(k, _)| k.trim() == name)
    };
    find_cookie(cookies, name)?;
    let kept: Vec<&str> = cookies
        .split(';')
        .filter(|pair| !is_ours(pair) && !pair.trim().is_empty())
        .map(str::trim)
        .collect();
    Some(kept.join("; "))
}

/// Writes `answer` as the whole response.
async fn write(session: &mut Session, answer: Answer) -> Result<()> {
    let (mut parts, body) = answer.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    parts
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let empty = body.is_empty();
    // The head as the endpoint built it: pingora's own header setters would parse
    // every name again.
    session
        .write_response_header(Box::new(ResponseHeader::from(parts)), empty)
        .await?;
    if !empty {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

#[async_trait]
impl ProxyHttp for Gate {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let req = session.req_header();
        if req.uri.path().starts_with(PREFIX) {
            let answer = self.endpoints.answer(req).await;
            write(session, answer).await?;
            return Ok(true);
        }
        match self.route(req) {
            Route::Answer(answer) => {
                write(session, answer).await?;
                Ok(true)
            }
            Route::Proxy { upstream, admitted } => {
                ctx.host = host_of(session.req_header()).unwrap_or_default().to_owned();
                ctx.upstream = Some(upstream);
                ctx.admitted = Some(admitted);
                Ok(false)
            }
        }
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(upstream) = ctx.upstream.as_ref().map(|u| &u.internal) else {
            return Error::e_explain(ErrorType::InternalError, "no upstream chosen");
        };
        let addr = self.resolve(&upstream.address).await?;
        // A resolved address: `new` cannot fail on it.
        let mut peer = HttpPeer::new(addr, upstream.tls, upstream.host.clone());
        peer.options.verify_cert = upstream.verify;
        peer.options.verify_hostname = upstream.verify;
        peer.options.connection_timeout = Some(Duration::from_secs(10));
        // HTTP/2 to TLS upstreams that offer it, except for an upgrade (a
        // websocket), which only HTTP/1.1 carries.
        if upstream.tls && !session.is_upgrade_req() {
            peer.options.set_http_version(2, 1);
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // The client's identity claims, and forwarding headers only the outpost
        // may set in proxy mode (it is the edge).
        let reserved: Vec<_> = request
            .headers
            .keys()
            .filter(|name| {
                identity::is_reserved(name.as_str())
                    || matches!(
                        name.as_str(),
                        "forwarded"
                            | "x-real-ip"
                            | "x-original-url"
                            | "x-forwarded-uri"
                            | "x-forwarded-port"
                    )
            })
            .cloned()
            .collect();
        for name in reserved {
            request.remove_header(&name);
        }
        let Some(upstream) = &ctx.upstream else {
            return Error::e_explain(ErrorType::InternalError, "no upstream chosen");
        };
        // The outpost's session cookie stays between the browser and the outpost.
        let name = upstream.cookie_name.as_str();
        let ours = |v: &HeaderValue| v.to_str().is_ok_and(|s| s.contains(name));
        if request.headers.get_all(COOKIE).iter().any(ours) {
            let kept: Vec<HeaderValue> = request
                .headers
                .get_all(COOKIE)
                .iter()
                .filter_map(
                    |v| match v.to_str().ok().and_then(|s| without_cookie(s, name)) {
                        Some(rest) if rest.is_empty() => None,
                        Some(rest) => HeaderValue::from_str(&rest).ok(),
                        None => Some(v.clone()),
                    },
                )
                .collect();
            request.remove_header(&COOKIE);
            for value in kept {
                request.append_header(COOKIE, value)?;
            }
        }
        // In proxy mode the client's own identity headers are gone already: an empty
        // one (authentik's names when the provider does not ask for them, a user
        // without email) need not be sent.
        if let Some(admitted) = &ctx.admitted {
            for (name, value) in admitted.headers.iter().filter(|(_, v)| !v.is_empty()) {
                request.insert_header(name.clone(), value.clone())?;
            }
        }
        request.insert_header(HOST, upstream.internal.authority.as_str())?;
        request.insert_header("x-forwarded-host", ctx.host.as_str())?;
        request.insert_header("x-forwarded-proto", upstream.proto)?;
        match session.client_addr().and_then(|a| a.as_inet()) {
            Some(client) => request.insert_header("x-forwarded-for", client.ip().to_string())?,
            None => {
                request.remove_header("x-forwarded-for");
            }
        }
        ctx.sent = Some(Instant::now());
        Ok(())
    }

    async fn logging(&self, session: &mut Session, _error: Option<&Error>, ctx: &mut Ctx) {
        let (Some(upstream), Some(sent)) = (&ctx.upstream, ctx.sent) else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        upstream.metrics.record(status, sent.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_cookie_is_taken_out() {
        let name = "gatehouse_proxy_0123";
        assert_eq!(
            without_cookie(&format!("a=1; {name}=sealed; b=2"), name).as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(
            without_cookie(&format!("{name}=sealed"), name).as_deref(),
            Some("")
        );
        // Another cookie whose name or value only contains the name stays whole.
        let lookalikes = format!("x{name}=1; c={name}=2");
        assert_eq!(without_cookie(&lookalikes, name), None);
        assert_eq!(without_cookie("a=1", name), None);
    }

    #[test]
    fn internal_hosts_are_read_with_their_default_ports() {
        let plain = Internal::parse("http://127.0.0.1:9090", false).unwrap();
        assert_eq!(
            (plain.address.as_str(), plain.tls, plain.authority.as_str()),
            ("127.0.0.1:9090", false, "127.0.0.1:9090")
        );
        let tls = Internal::parse("https://Prom.internal/", true).unwrap();
        assert_eq!(
            (tls.address.as_str(), tls.host.as_str(), tls.tls, tls.verify),
            ("Prom.internal:443", "Prom.internal", true, true)
        );
        assert_eq!(
            Internal::parse("http://[::1]", false).unwrap().address,
            "[::1]:80"
        );
        for bad in ["", "prom:9090", "ftp://prom", "http://", "not a url"] {
            assert_eq!(Internal::parse(bad, false), None, "{bad}");
        }
    }
}
