//! Deciding one request from the enforced state alone: which provider serves the
//! host, whether the path needs a login, whether the session cookie opens, is alive
//! and not revoked, and whether the application's bindings let its user in. No I/O.

use cookie::Key;
use gatehouse_config::control::{BindingSubject, EngineMode, ProviderSnapshot};
use gatehouse_config::objects::ProxyMode;
use gatehouse_core::evaluator::{CompiledPolicy, Facts, evaluate};
use gatehouse_core::expr::{ApplicationInput, Input, UserInput};
use regex::RegexSet;
use uuid::Uuid;

use crate::session::{OutpostSession, cookie_name, find_cookie, key_of, open};
use crate::state::{Enforced, Revoked};

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
    pub fn compile(snapshot: &ProviderSnapshot) -> Self {
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
        Self {
            key: key_of(&settings.cookie_secret),
            cookie_name: cookie_name(snapshot.id),
            host: authority(&settings.external_host),
            domain,
            skip,
            bindings,
            snapshot: snapshot.clone(),
        }
    }

    /// How closely this provider claims `host` (lower case, port included if any):
    /// its own external host beats every cookie domain, and a longer cookie domain
    /// beats a shorter one. `None`: not at all.
    fn claim(&self, host: &str) -> Option<usize> {
        if host == self.host {
            return Some(usize::MAX);
        }
        let domain = self.domain.as_ref()?;
        let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let under = bare == domain
            || bare
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'));
        under.then_some(domain.len())
    }

    /// Whether `path` needs no login.
    fn skips(&self, path: &str) -> bool {
        self.skip.as_ref().is_some_and(|set| set.is_match(path))
    }

    /// Whether the application's bindings let `session`'s user in.
    fn allows(&self, session: &OutpostSession, now: time::OffsetDateTime) -> bool {
        let Some(app) = &self.snapshot.application else {
            return false;
        };
        if self.bindings.is_empty() {
            return true;
        }
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
        let input = Input::default()
            .with_user(&user)
            .with_application(&ApplicationInput {
                slug: app.slug.clone(),
                name: app.name.clone(),
                group: app.group.clone(),
            });
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

/// `https://Prom.Example.org:8443/x` → `prom.example.org:8443`.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest).to_ascii_lowercase()
}

/// What the outpost needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The host the browser asked for (the front proxy's `X-Forwarded-Host`, or
    /// `Host`), port included if any.
    pub host: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The `Cookie` header.
    pub cookies: &'a str,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No provider serves the host.
    UnknownHost,
    /// Let through; with the session when there is one (a skipped path has none).
    Allow(Option<Box<OutpostSession>>),
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
    let host = host.to_ascii_lowercase();
    enforced
        .providers
        .iter()
        .filter_map(|p| p.claim(&host).map(|rank| (rank, p)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, p)| p)
}

/// Decides `request` at `now`.
pub fn decide(
    enforced: &Enforced,
    revoked: &Revoked,
    request: Request<'_>,
    now: time::OffsetDateTime,
) -> Verdict {
    let Some(provider) = provider_for(enforced, request.host) else {
        return Verdict::UnknownHost;
    };
    if provider.skips(request.path) {
        return Verdict::Allow(None);
    }
    let session = find_cookie(request.cookies, &provider.cookie_name)
        .and_then(|sealed| open(&provider.key, &provider.cookie_name, sealed))
        .filter(|s| s.expires_at > now.unix_timestamp())
        .filter(|s| !revoked.refuses(s.sid, s.uid, s.issued_at));
    let Some(session) = session else {
        return Verdict::SignIn;
    };
    if provider.allows(&session, now) {
        Verdict::Allow(Some(Box::new(session)))
    } else {
        Verdict::Forbidden {
            application: provider
                .snapshot
                .application
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_else(|| provider.snapshot.name.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
