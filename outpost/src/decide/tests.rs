use gatehouse_config::control::{Revocations, RevokedSession, RevokedUser};
use gatehouse_config::objects::ProxyMode;
use time::OffsetDateTime;

use super::*;
use crate::session::{key_of, seal};
use crate::state::Outpost;
use crate::testing::{SECRET, session, snapshot};

const ISSUED: i64 = 1_800_000_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ISSUED + 60).unwrap()
}

fn cookie_of(s: &OutpostSession) -> String {
    let name = cookie_name(Uuid::from_u128(7));
    format!("other=1; {name}={}", seal(&key_of(SECRET), &name, s))
}

async fn outpost(mode: ProxyMode) -> std::sync::Arc<Outpost> {
    let outpost = Outpost::new(None);
    outpost.apply_config("v1".into(), snapshot(mode)).await;
    outpost
}

fn ask(outpost: &Outpost, host: &str, path: &str, cookies: &str) -> Verdict {
    let request = Request {
        host,
        path,
        cookies: cookies.into(),
        authorization: None,
    };
    let enforced = outpost.enforced();
    let uncached = provider_for(&enforced, host).map_or(Verdict::UnknownHost, |provider| {
        decide_for(
            provider,
            &outpost.revoked(),
            request.clone(),
            now(),
            None,
            enforced.generation,
        )
    });
    // The cache changes nothing: asked twice through it, the same answer.
    let cached = outpost.decide(request.clone(), now());
    assert_eq!(cached, uncached);
    assert_eq!(outpost.decide(request, now()), uncached);
    uncached
}

#[tokio::test]
async fn a_member_of_the_bound_group_is_let_in_and_others_are_refused_or_asked_to_sign_in() {
    let outpost = outpost(ProxyMode::ForwardSingle).await;
    let host = "prom.example.org";
    let ada = session("ada", &["ops"], ISSUED);
    assert!(matches!(
        ask(&outpost, host, "/graph", &cookie_of(&ada)),
        Verdict::Allow(a) if a.who == Some(Who::from(&ada))
    ));
    // Host names compare without case.
    assert!(matches!(
        ask(&outpost, "Prom.Example.ORG", "/", &cookie_of(&ada)),
        Verdict::Allow(_)
    ));
    let bob = session("bob", &["dev"], ISSUED);
    assert_eq!(
        ask(&outpost, host, "/graph", &cookie_of(&bob)),
        Verdict::Forbidden {
            application: "Prometheus".into()
        }
    );
    // In the group, but the expression policy refuses (bindings: all must pass).
    let mallory = session("mallory", &["ops"], ISSUED);
    assert!(matches!(
        ask(&outpost, host, "/", &cookie_of(&mallory)),
        Verdict::Forbidden { .. }
    ));
    assert_eq!(ask(&outpost, host, "/graph", ""), Verdict::SignIn);
    assert_eq!(
        ask(
            &outpost,
            host,
            "/graph",
            "gatehouse_proxy_00000000000000000000000000000007=forged"
        ),
        Verdict::SignIn
    );
    let mut expired = ada.clone();
    expired.expires_at = now().unix_timestamp();
    assert_eq!(
        ask(&outpost, host, "/", &cookie_of(&expired)),
        Verdict::SignIn
    );
}

#[tokio::test]
async fn skipped_paths_pass_without_a_session_and_unknown_hosts_are_not_served() {
    let outpost = outpost(ProxyMode::ForwardSingle).await;
    assert!(matches!(
        ask(&outpost, "prom.example.org", "/-/healthy", ""),
        Verdict::Allow(a) if a.who.is_none()
    ));
    assert!(matches!(
        ask(&outpost, "prom.example.org", "/public/x.css", ""),
        Verdict::Allow(a) if a.who.is_none()
    ));
    // The pattern is anchored: a longer path is not skipped.
    assert_eq!(
        ask(&outpost, "prom.example.org", "/-/healthy/x", ""),
        Verdict::SignIn
    );
    assert_eq!(
        ask(&outpost, "grafana.example.org", "/", ""),
        Verdict::UnknownHost
    );
}

#[tokio::test]
async fn domain_mode_serves_every_host_under_the_cookie_domain_and_no_other() {
    let outpost = outpost(ProxyMode::ForwardDomain).await;
    let ada = cookie_of(&session("ada", &["ops"], ISSUED));
    for host in ["grafana.example.org", "example.org", "a.b.example.org:8443"] {
        assert!(
            matches!(ask(&outpost, host, "/", &ada), Verdict::Allow(a) if a.who.is_some()),
            "{host}"
        );
    }
    for host in ["evilexample.org", "example.org.evil.test"] {
        assert_eq!(
            ask(&outpost, host, "/", &ada),
            Verdict::UnknownHost,
            "{host}"
        );
    }
}

#[tokio::test]
async fn a_revoked_session_or_a_user_revoked_after_sign_in_must_sign_in_again() {
    let outpost = outpost(ProxyMode::ForwardSingle).await;
    let host = "prom.example.org";
    let ada = session("ada", &["ops"], ISSUED);
    let eve = session("eve", &["ops"], ISSUED);
    let zoe = session("zoe", &["ops"], ISSUED);
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap();
    outpost
        .apply_revocations(&Revocations {
            sessions: vec![RevokedSession {
                id: ada.sid,
                at: at(ISSUED + 10),
            }],
            users: vec![
                RevokedUser {
                    id: eve.uid,
                    at: at(ISSUED + 10),
                },
                // Revoked before zoe signed in: her new session counts.
                RevokedUser {
                    id: zoe.uid,
                    at: at(ISSUED - 10),
                },
            ],
        })
        .await;
    assert_eq!(ask(&outpost, host, "/", &cookie_of(&ada)), Verdict::SignIn);
    assert_eq!(ask(&outpost, host, "/", &cookie_of(&eve)), Verdict::SignIn);
    assert!(matches!(
        ask(&outpost, host, "/", &cookie_of(&zoe)),
        Verdict::Allow(a) if a.who.is_some()
    ));
    // Another session of ada is not touched.
    let mut again = session("ada", &["ops"], ISSUED + 20);
    again.uid = ada.uid;
    assert!(matches!(
        ask(&outpost, host, "/", &cookie_of(&again)),
        Verdict::Allow(a) if a.who.is_some()
    ));
}

#[tokio::test]
async fn a_provider_without_an_application_lets_nobody_in() {
    let outpost = Outpost::new(None);
    let mut lone = snapshot(ProxyMode::ForwardSingle);
    if let Some(p) = lone.providers.first_mut() {
        p.application = None;
    }
    outpost.apply_config("v2".into(), lone).await;
    let ada = session("ada", &["ops"], ISSUED);
    assert!(matches!(
        ask(&outpost, "prom.example.org", "/", &cookie_of(&ada)),
        Verdict::Forbidden { .. }
    ));
}

#[tokio::test]
async fn a_provider_for_the_exact_host_wins_over_a_domain_that_covers_it() {
    let outpost = Outpost::new(None);
    let mut both = snapshot(ProxyMode::ForwardDomain);
    // A second provider for vault.example.org (sorted first), whose application only
    // vault-admins may open.
    let mut vault = both.providers[0].clone();
    vault.id = Uuid::from_u128(8);
    vault.name = "aaa-vault".into();
    vault.settings.mode = ProxyMode::ForwardSingle;
    vault.settings.external_host = "https://vault.example.org".into();
    let app = vault.application.as_mut().unwrap();
    app.name = "Vault".into();
    app.bindings.truncate(1);
    app.bindings[0].subject = gatehouse_config::control::BindingSubject::Group {
        id: Uuid::new_v4(),
        name: "vault-admins".into(),
    };
    both.providers.insert(0, vault);
    outpost.apply_config("v3".into(), both).await;
    // Ada's domain cookie opens the domain's hosts, not vault, which has its own
    // provider (and cookie name): there she has to sign in.
    let ada = cookie_of(&session("ada", &["ops"], ISSUED));
    assert!(matches!(
        ask(&outpost, "grafana.example.org", "/", &ada),
        Verdict::Allow(a) if a.who.is_some()
    ));
    // A port, a default one or not, or a trailing dot does not move vault's
    // requests to the domain's provider (front proxies route by name alone).
    for host in [
        "vault.example.org",
        "vault.example.org:443",
        "vault.example.org:1",
        "VAULT.example.org.",
        "vault.example.org.:8443",
    ] {
        assert_eq!(ask(&outpost, host, "/", &ada), Verdict::SignIn, "{host}");
    }
}

#[tokio::test]
async fn a_path_an_upstream_could_read_as_another_is_never_skipped() {
    let outpost = outpost(ProxyMode::ForwardSingle).await;
    let host = "prom.example.org";
    assert!(matches!(
        ask(&outpost, host, "/public/app.css", ""),
        Verdict::Allow(_)
    ));
    for path in [
        "/-/healthy/../api/v1/query",
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E%2Fadmin",
        "/public//admin",
        "/public/..\\admin",
        "/public/./x",
    ] {
        assert_eq!(ask(&outpost, host, path, ""), Verdict::SignIn, "{path}");
    }
}
