//! Snapshots and sessions for the outpost's unit tests.

use gatehouse_config::control::{
    AccessBinding, ApplicationSnapshot, BindingSubject, EngineMode, OutpostInfo, ProviderSnapshot,
    Snapshot,
};
use gatehouse_config::objects::{OutpostConfig, ProxyMode, ProxyProvider};
use uuid::Uuid;

use crate::session::OutpostSession;

/// The provider's cookie key material.
pub const SECRET: &str = "the-cookie-secret-of-prometheus";

/// One provider for `https://prom.example.org` in `mode`, whose application lets
/// in the group `ops` and users whose name is not `mallory` (an expression policy).
pub fn snapshot(mode: ProxyMode) -> Snapshot {
    let binding = |order, subject| AccessBinding {
        id: Uuid::new_v4(),
        order,
        negate: false,
        timeout_ms: 30_000,
        failure_result: false,
        subject,
    };
    Snapshot {
        outpost: OutpostInfo {
            id: Uuid::new_v4(),
            name: "edge".into(),
            config: OutpostConfig::default(),
        },
        providers: vec![ProviderSnapshot {
            id: Uuid::from_u128(7),
            name: "prometheus".into(),
            settings: ProxyProvider {
                mode,
                external_host: "https://prom.example.org".into(),
                cookie_domain: "example.org".into(),
                skip_path_regex: "^/-/healthy$\n^/public/".into(),
                cookie_secret: SECRET.into(),
                ..ProxyProvider::default()
            },
            application: Some(ApplicationSnapshot {
                id: Uuid::new_v4(),
                slug: "prometheus".into(),
                name: "Prometheus".into(),
                group: String::new(),
                policy_engine_mode: EngineMode::All,
                bindings: vec![
                    binding(
                        0,
                        BindingSubject::Group {
                            id: Uuid::new_v4(),
                            name: "ops".into(),
                        },
                    ),
                    binding(
                        1,
                        BindingSubject::Policy {
                            id: Uuid::new_v4(),
                            name: "not mallory".into(),
                            policy_kind: "expression".into(),
                            settings: serde_json::json!({"expression": "user.username != \"mallory\""}),
                        },
                    ),
                ],
            }),
            header_mappings: Vec::new(),
            jwks: serde_json::json!({"keys": []}),
        }],
    }
}

/// A session of `username` in `groups`, issued at `issued_at`, for a day.
pub fn session(username: &str, groups: &[&str], issued_at: i64) -> OutpostSession {
    OutpostSession {
        sid: Uuid::new_v4(),
        uid: Uuid::new_v4(),
        username: username.into(),
        email: format!("{username}@example.org"),
        name: username.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        attributes: serde_json::json!({}),
        issued_at,
        expires_at: issued_at + 86_400,
    }
}
