//! Deciding one request from the enforced state alone: which provider serves the
//! host, whether the path needs a login, whether the session cookie opens, is alive
//! and not revoked, and whether the application's bindings let its user in. No I/O.
//!
//! Opening a cookie (AES-GCM, JSON) and running the bindings and header mappings is
//! the costly part; its outcome is kept in a bounded cache keyed by the provider and
//! the cookie, so a known session costs a cache lookup plus the expiry and
//! revocation checks, which run on every request.

use std::sync::Arc;

use cookie::Key;
use gatehouse_config::control::{BindingSubject, EngineMode, ProviderSnapshot};
use gatehouse_config::objects::ProxyMode;
use gatehouse_core::evaluator::{CompiledPolicy, Facts, evaluate};
use gatehouse_core::expr::{ApplicationInput, Expression, Input, UserInput};
use hyper::header::{HeaderName, HeaderValue};
use openidconnect::core::CoreJsonWebKeySet;
use regex::RegexSet;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::session::{OutpostSession, cookie_name, find_cookie, key_of, open};
use crate::state::{Enforced, Revoked};
use crate::{bearer, identity};

/// Opened sessions and what was decided for them, by the SHA-256 of the provider's
/// cookie name and the credential (a sealed cookie or an access token runs to
/// hundreds of bytes; its digest is 32).
pub type Admissions = moka::sync::Cache<[u8; 32], Arc<Admitted>>;

fn cache_key(kind: &str, provider: &str, credential: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(kind)
        .chain_update([0])
        .chain_update(provider)
        .chain_update([0])
        .chain_update(credential)
        .finalize()
        .into()
}

/// The name of the application behind `provider` (the provider's own name when
/// none uses it).
fn application_name(provider: &ProviderSnapshot) -> &str {
    provider
        .application
        .as_ref()
        .map_or(&provider.name, |a| &a.name)
}

/// The bounded cache of opened sessions: at most `capacity` entries, each kept at
/// a minute, so a policy that reads the time is asked again at least that often
/// (expiry and revocations are checked on every hit).
pub fn admissions(capacity: u64) -> Admissions {
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .time_to_live(std::time::Duration::from_secs(60))
        .build()
}

/// A session opened and decided: whether the bindings let it in, and the headers
/// that tell the upstream who it is. Only what later requests check is kept of the
/// session itself (the rest lives on in the headers): a cache of 100,000 sessions
/// stays small.
#[derive(Debug, PartialEq)]
pub struct Admitted {
    /// Whose session; `None` on a skipped path.
    pub who: Option<Who>,
    /// Identity headers for the upstream (also sent, empty, on skipped paths, so a
    /// front proxy that copies them replaces what a client sent).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether the application's bindings let the user in.
    allowed: bool,
    /// The config generation it was decided under.
    generation: u64,
}

/// What every request checks of a session: whether it, or its user, is revoked,
/// and whether it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    /// The core session.
    pub sid: Uuid,
    /// The user.
    pub uid: Uuid,
    /// When the core issued the sign-in (Unix seconds).
    pub issued_at: i64,
    /// When it stops counting (Unix seconds).
    pub expires_at: i64,
}

impl From<&OutpostSession> for Who {
    fn from(s: &OutpostSession) -> Self {
        Self {
            sid: s.sid,
            uid: s.uid,
            issued_at: s.issued_at,
            expires_at: s.expires_at,
        }
    }
}

/// A proxy provider ready to decide requests.
pub struct CompiledProvider {
    /// The provider as the core sent it.
    pub snapshot: ProviderSnapshot,
    /// Its cookie key.
    key: Key,
    /// Its cookie's name.
    pub cookie_name: String,
    /// The host (and port) of its external URL, lower case.
    host: String,
    /// The cookie domain in domain mode, lower case, without a leading dot.
    domain: Option<String>,
    /// Paths that need no login.
    skip: Option<RegexSet>,
    /// The application's bindings, compiled.
    bindings: Vec<Binding>,
    /// Property mappings whose maps become upstream headers; those that do not
    /// compile are left out (and logged).
    pub(crate) mappings: Vec<(String, Expression)>,
    /// What a skipped path is let in with: the identity headers, empty.
    anonymous: Arc<Admitted>,
    /// Its decision counters and latency histogram, registered once.
    pub(crate) metrics: crate::metrics::Decisions,
    /// The keys that sign the provider's access tokens, when it takes them
    /// (`intercept_header_auth`).
    jwks: Option<CoreJsonWebKeySet>,
    /// Where proxy mode sends requests (`None` in the forward modes, or when
    /// `internal_host` is not an http(s) URL, which is logged once here).
    pub(crate) upstream: Option<Arc<crate::proxy::Upstream>>,
}

impl std::fmt::Debug for CompiledProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledProvider")
            .field("name", &self.snapshot.name)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

struct Binding {
    negate: bool,
    failure_result: bool,
    timeout: std::time::Duration,
    check: Check,
}

enum Check {
    Group(String),
    User(Uuid),
    /// A policy that compiled, or the reason it did not (the binding then yields its
    /// failure result, as in the core).
    Policy(Result<CompiledPolicy, String>),
}

impl CompiledProvider {
    /// Compiles a provider of the snapshot. What does not compile is logged and
    /// fails closed: a bad skip pattern skips nothing, a bad policy yields its
    /// binding's failure result.
    pub fn compile(snapshot: &ProviderSnapshot, generation: u64) -> Self {
        let settings = &snapshot.settings;
        let patterns: Vec<&str> = settings
            .skip_path_regex
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let skip = match RegexSet::new(&patterns) {
            Ok(set) if !patterns.is_empty() => Some(set),
            Ok(_) => None,
            Err(err) => {
                tracing::error!(provider = %snapshot.name, error = %err, "skip_path_regex does not compile; no path is skipped");
                None
            }
        };
        let bindings = snapshot
            .application
            .iter()
            .flat_map(|a| a.bindings.iter())
            .map(|b| Binding {
                negate: b.negate,
                failure_result: b.failure_result,
                timeout: std::time::Duration::from_millis(u64::try_from(b.timeout_ms).unwrap_or(0)),
                check: match &b.subject {
                    BindingSubject::Group { name, .. } => Check::Group(name.clone()),
                    BindingSubject::User { id } => Check::User(*id),
                    BindingSubject::Policy {
                        name,
                        policy_kind,
                        settings,
                        ..
                    } => {
                        Check::Policy(CompiledPolicy::compile(policy_kind, settings).map_err(|e| {
                            tracing::error!(policy = %name, error = %e, "policy does not compile");
                            e.to_string()
                        }))
                    }
                },
            })
            .collect();
        let domain = (settings.mode == ProxyMode::ForwardDomain)
            .then(|| {
                settings
                    .cookie_domain
                    .trim_start_matches('.')
                    .to_ascii_lowercase()
            })
            .filter(|d| !d.is_empty());
        let mappings = snapshot
            .header_mappings
            .iter()
            .filter_map(|m| match Expression::compile(&m.expression) {
                Ok(expression) => Some((m.name.clone(), expression)),
                Err(err) => {
                    tracing::error!(mapping = %m.name, error = %err, "header mapping does not compile; its headers are not sent");
                    None
                }
            })
            .collect();
        let jwks = settings
            .intercept_header_auth
            .then(|| match serde_json::from_value(snapshot.jwks.clone()) {
                Ok(jwks) => Some(jwks),
                Err(err) => {
                    tracing::error!(provider = %snapshot.name, error = %err, "the provider's JWKS cannot be read; Bearer tokens are refused");
                    None
                }
            })
            .flatten();
        let application: Arc<str> = application_name(snapshot).into();
        let cookie_name = cookie_name(snapshot.id);
        let upstream = (settings.mode == ProxyMode::Proxy)
            .then(|| {
                let upstream =
                    crate::proxy::Upstream::of(settings, &cookie_name, application.clone());
                if upstream.is_none() {
                    tracing::error!(provider = %snapshot.name, internal_host = %settings.internal_host, "internal_host is not an http(s) URL; nothing is proxied");
                }
                upstream.map(Arc::new)
            })
            .flatten();
        Self {
            jwks,
            upstream,
            key: key_of(&settings.cookie_secret),
            cookie_name,
            host: authority(&settings.external_host),
            domain,
            skip,
            bindings,
            mappings,
            anonymous: Arc::new(Admitted {
                who: None,
                headers: identity::blank(),
                allowed: true,
                generation,
            }),
            metrics: crate::metrics::Decisions::of(&application),
            snapshot: snapshot.clone(),
        }
    }

    /// The name of the application behind this provider (the provider's own name
    /// when none uses it), for pages.
    pub fn application_name(&self) -> &str {
        application_name(&self.snapshot)
    }

    /// The expression input for `session`'s user and this provider's application.
    pub(crate) fn input_of(&self, session: &OutpostSession) -> Input {
        let user = UserInput {
            uid: session.uid.to_string(),
            username: session.username.clone(),
            email: session.email.clone(),
            name: session.name.clone(),
            groups: session.groups.clone(),
            attributes: session.attributes.clone(),
            is_active: true,
            is_superuser: false,
            path: String::new(),
        };
        let mut input = Input::default().with_user(&user);
        if let Some(app) = &self.snapshot.application {
            input = input.with_application(&ApplicationInput {
                slug: app.slug.clone(),
                name: app.name.clone(),
                group: app.group.clone(),
            });
        }
        input
    }

    /// How closely this provider claims `host` (lower case, port included if any):
    /// its own external host, port and all, first; then its external host's name
    /// with any port (front proxies route by name alone, so a client's `:443` or
    /// `:1` must not hand the request to a weaker provider); then cookie domains,
    /// the longer first. `None`: not at all.
    fn claim(&self, host: &str) -> Option<usize> {
        if host == self.host {
            return Some(usize::MAX);
        }
        let bare = hostname(host);
        if bare == hostname(&self.host) {
            return Some(usize::MAX - 1);
        }
        let domain = self.domain.as_ref()?;
        let under = bare == domain
            || bare
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'));
        under.then_some(domain.len())
    }

    /// Whether `path` needs no login. A path an upstream could read as another one
    /// (dot segments, encoded dots or slashes, backslashes, empty segments) never
    /// does: `/-/healthy/../api` must not pass as a health check.
    fn skips(&self, path: &str) -> bool {
        let ambiguous = path.contains("/.")
            || path.contains("//")
            || path.contains('\\')
            || path.contains('%') && {
                let lower = path.to_ascii_lowercase();
                ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e))
            };
        !ambiguous && self.skip.as_ref().is_some_and(|set| set.is_match(path))
    }

    /// Whether the application's bindings let `session`'s user in.
    fn allows(&self, session: &OutpostSession, now: time::OffsetDateTime) -> bool {
        let Some(app) = &self.snapshot.application else {
            return false;
        };
        if self.bindings.is_empty() {
            return true;
        }
        let input = self.input_of(session);
        let facts = Facts {
            now: Some(now.into()),
            ..Facts::default()
        };
        let mut results = self.bindings.iter().map(|b| {
            let raw = match &b.check {
                Check::Group(name) => session.groups.iter().any(|g| g == name),
                Check::User(id) => session.uid == *id,
                Check::Policy(Err(_)) => return b.failure_result,
                Check::Policy(Ok(policy)) => {
                    let evaluation = evaluate(policy, &input, &facts);
                    match evaluation.result {
                        Ok(verdict) if evaluation.took <= b.timeout => verdict.passing,
                        _ => return b.failure_result,
                    }
                }
            };
            raw != b.negate
        });
        match app.policy_engine_mode {
            EngineMode::All => results.all(|r| r),
            EngineMode::Any => results.any(|r| r),
        }
    }
}

/// The name of an authority, without its port or a trailing dot: `prom.test:8080`
/// → `prom.test`, `[::1]:80` → `[::1]`.
fn hostname(authority: &str) -> &str {
    let name = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => &authority[..at],
        _ => authority,
    };
    name.trim_end_matches('.')
}

/// `https://Prom.Example.org:8443/x` → `prom.example.org:8443`.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest).to_ascii_lowercase()
}

/// What the outpost needs to know about a request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The host the browser asked for (the front proxy's `X-Forwarded-Host`, or
    /// `Host`), port included if any.
    pub host: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The `Cookie` header (HTTP/2 clients may send several: joined).
    pub cookies: std::borrow::Cow<'a, str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// The request for `host` and `path` with the `Cookie` header of `headers`.
    pub fn of(host: &'a str, path: &'a str, headers: &'a hyper::HeaderMap) -> Self {
        Self {
            host,
            path,
            cookies: cookies_of(headers),
            authorization: headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        }
    }

    /// The token of an `Authorization: Bearer` header.
    fn bearer(&self) -> Option<&'a str> {
        let (scheme, token) = self.authorization?.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// The `Cookie` header of `headers`; several (as HTTP/2 clients may send them) are
/// joined as one.
fn cookies_of(headers: &hyper::HeaderMap) -> std::borrow::Cow<'_, str> {
    let mut values = headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let first = values.next().unwrap_or_default();
    match values.next() {
        None => std::borrow::Cow::Borrowed(first),
        Some(second) => {
            let mut joined = format!("{first}; {second}");
            for more in values {
                joined.push_str("; ");
                joined.push_str(more);
            }
            std::borrow::Cow::Owned(joined)
        }
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No provider serves the host.
    UnknownHost,
    /// Let through, with who (nobody on a skipped path) and the headers to send.
    Allow(Arc<Admitted>),
    /// No valid session: send the browser to sign in.
    SignIn,
    /// Signed in, but the application's bindings refuse the user.
    Forbidden {
        /// The application's name, for the page.
        application: String,
    },
}

/// The provider serving `host`: the one made for this very host, else the
/// domain-mode one with the longest cookie domain covering it.
pub fn provider_for<'a>(enforced: &'a Enforced, host: &str) -> Option<&'a CompiledProvider> {
    let host: std::borrow::Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    };
    enforced
        .providers
        .iter()
        .filter_map(|p| p.claim(&host).map(|rank| (rank, p)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, p)| p)
}

/// Decides `request` for `provider` at `now`, keeping opened sessions in `cache`
/// when given.
pub(crate) fn decide_for(
    provider: &CompiledProvider,
    revoked: &Revoked,
    request: Request<'_>,
    now: time::OffsetDateTime,
    cache: Option<&Admissions>,
    generation: u64,
) -> Verdict {
    if provider.skips(request.path) {
        return Verdict::Allow(provider.anonymous.clone());
    }
    let admit = |key: [u8; 32], open: &dyn Fn() -> Option<OutpostSession>| {
        let cached = cache
            .and_then(|cache| cache.get(&key))
            .filter(|a| a.generation == generation);
        if cached.is_some() {
            return cached;
        }
        let session = open()?;
        let admitted = Arc::new(Admitted {
            allowed: provider.allows(&session, now),
            headers: identity::headers(provider, &session),
            who: Some(Who::from(&session)),
            generation,
        });
        if let Some(cache) = cache {
            cache.insert(key, admitted.clone());
        }
        Some(admitted)
    };
    // An access token of the core, when the provider takes them; else the cookie.
    let by_token = provider
        .jwks
        .as_ref()
        .zip(request.bearer())
        .and_then(|(jwks, token)| {
            let client_id = &provider.snapshot.settings.client_id;
            admit(cache_key("bearer", &provider.cookie_name, token), &|| {
                bearer::open(jwks, client_id, token, now.unix_timestamp())
            })
        });
    let admitted = by_token.or_else(|| {
        let sealed = find_cookie(&request.cookies, &provider.cookie_name)?;
        admit(cache_key("cookie", &provider.cookie_name, sealed), &|| {
            open(&provider.key, &provider.cookie_name, sealed)
        })
    });
    let Some(admitted) = admitted else {
        return Verdict::SignIn;
    };
    let Some(who) = admitted.who else {
        return Verdict::SignIn;
    };
    if who.expires_at <= now.unix_timestamp() || revoked.refuses(who.sid, who.uid, who.issued_at) {
        return Verdict::SignIn;
    }
    if admitted.allowed {
        Verdict::Allow(admitted)
    } else {
        Verdict::Forbidden {
            application: provider.application_name().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
