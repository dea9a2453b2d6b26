//! The control channel between the core and its outposts: the message types and the
//! protocol they make.
//!
//! # Protocol, version 1
//!
//! The outpost opens a WebSocket to `/api/v1/outposts/ws` on the core with
//! `Authorization: Bearer <outpost token>`; a missing or unknown token is answered
//! `401` before the upgrade. Every frame is one JSON text message with a `type` field.
//!
//! 1. The outpost sends [`OutpostMessage::Hello`] first: the protocol version it
//!    speaks, its own version, the config version it enforces (from its disk, if any)
//!    and the revocation time up to which it has heard everything.
//! 2. The core answers a protocol it does not speak with [`CoreMessage::Refused`] and
//!    closes. Otherwise it sends [`CoreMessage::Config`] (only when the outpost's
//!    version differs) and then [`CoreMessage::Revocations`] with every revocation at
//!    or after `revocations_since` (all it keeps when the outpost has none), so an
//!    outpost that was cut off learns what it missed.
//! 3. From then on the core pushes a new [`CoreMessage::Config`] whenever the
//!    outpost's snapshot changes (a blueprint applied, an object written) and
//!    [`CoreMessage::Revocations`] whenever sessions end or users lose access, on
//!    whichever core replica that happened. The outpost answers each config with
//!    [`OutpostMessage::Ack`] once it enforces it.
//! 4. The core sends [`CoreMessage::Ping`] every few seconds; the outpost answers
//!    [`OutpostMessage::Pong`]. Either side treats a silent peer as gone.
//!
//! A config version is a digest of the snapshot's content, so every core replica
//! names the same snapshot the same way. Revocation times are the core's clock.
//! Revocations are idempotent: hearing one twice changes nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::objects::{OutpostConfig, ProxyProvider};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The path of the control channel on the core.
pub const PATH: &str = "/api/v1/outposts/ws";

/// What an outpost sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutpostMessage {
    /// The first message.
    Hello(Hello),
    /// The outpost now enforces the config with this version.
    Ack {
        /// The version acknowledged.
        config_version: String,
    },
    /// The answer to a [`CoreMessage::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}

/// The outpost's first message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the outpost speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The outpost's build version, for the core's records.
    pub outpost_version: String,
    /// The config version the outpost enforces, if it has one.
    #[serde(default)]
    pub config_version: Option<String>,
    /// Every revocation before this time (the core's clock) is known to the outpost;
    /// `None` asks for all the core keeps.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revocations_since: Option<OffsetDateTime>,
}

/// What the core sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoreMessage {
    /// The outpost's whole configuration.
    Config {
        /// A digest of `snapshot`.
        version: String,
        /// What to enforce.
        snapshot: Box<Snapshot>,
    },
    /// Sessions and users no longer let in.
    Revocations(Revocations),
    /// Liveness check; answer with [`OutpostMessage::Pong`].
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// The core will not talk to this outpost (protocol version); it closes next.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Everything an outpost enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The outpost itself.
    pub outpost: OutpostInfo,
    /// The proxy providers it serves, by name.
    pub providers: Vec<ProviderSnapshot>,
}

/// The outpost object as the core stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutpostInfo {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its settings.
    pub config: OutpostConfig,
}

/// One proxy provider with what deciding its requests needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderSnapshot {
    /// The provider's id.
    pub id: Uuid,
    /// The provider's name.
    pub name: String,
    /// Its settings, secrets included (client secret, cookie key).
    pub settings: ProxyProvider,
    /// The application it backs; `None` while no application uses it (then nobody
    /// is let in).
    pub application: Option<ApplicationSnapshot>,
    /// Property mappings whose results become upstream headers, in name order.
    pub header_mappings: Vec<HeaderMapping>,
    /// The JSON Web Key Set that verifies the core's tokens for this provider.
    pub jwks: Value,
}

/// An application and its access policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationSnapshot {
    /// Its id.
    pub id: Uuid,
    /// Its slug (the issuer is `<core>/application/o/<slug>/`).
    pub slug: String,
    /// Its display name (the 403 page names it).
    pub name: String,
    /// Its launcher group.
    pub group: String,
    /// `all` or `any` of the bindings must pass.
    pub policy_engine_mode: EngineMode,
    /// The enabled policy bindings, in order.
    pub bindings: Vec<AccessBinding>,
}

/// How bindings combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineMode {
    /// Every binding must pass.
    All,
    /// One passing binding is enough.
    Any,
}

/// One policy binding of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessBinding {
    /// Its id.
    pub id: Uuid,
    /// Its place among the application's bindings.
    pub order: i32,
    /// Inverts the result.
    pub negate: bool,
    /// Longest a policy may take, in milliseconds, before `failure_result` counts.
    pub timeout_ms: i64,
    /// The result when the policy errs or times out.
    pub failure_result: bool,
    /// What is bound.
    pub subject: BindingSubject,
}

/// What a binding checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BindingSubject {
    /// Membership of a group (direct or inherited).
    Group {
        /// The group's id.
        id: Uuid,
        /// The group's name, as the `groups` claim carries it.
        name: String,
    },
    /// One user.
    User {
        /// The user's id.
        id: Uuid,
    },
    /// A policy, compiled by the outpost.
    Policy {
        /// The policy's id.
        id: Uuid,
        /// Its name, for logs.
        name: String,
        /// Its kind (`expression`, `reputation`…).
        policy_kind: String,
        /// Its stored settings.
        settings: Value,
    },
}

/// A property mapping whose result map becomes upstream headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderMapping {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The CEL expression.
    pub expression: String,
}

/// Revoked sessions and users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revocations {
    /// Sessions ended (sign-out, an administrator, a new sign-in that ends others).
    pub sessions: Vec<RevokedSession>,
    /// Users whose sessions from before `at` are no longer let in (deactivated,
    /// deleted, group membership changed).
    pub users: Vec<RevokedUser>,
}

impl Revocations {
    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.users.is_empty()
    }

    /// The latest revocation time in it.
    pub fn latest(&self) -> Option<OffsetDateTime> {
        let sessions = self.sessions.iter().map(|s| s.at);
        let users = self.users.iter().map(|u| u.at);
        sessions.chain(users).max()
    }
}

/// A core session (`sid`) that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSession {
    /// The session's id, the `sid` of its tokens.
    pub id: Uuid,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A user whose earlier sessions no longer count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedUser {
    /// The user's id.
    pub id: Uuid,
    /// Sessions signed in before this time are refused.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_reads_without_optional_fields() {
        let hello: OutpostMessage =
            serde_json::from_str(r#"{"type": "hello", "protocol": 1, "outpost_version": "0.1.0"}"#)
                .unwrap();
        let OutpostMessage::Hello(hello) = hello else {
            panic!("not a hello: {hello:?}");
        };
        assert_eq!(hello.protocol, 1);
        assert_eq!(hello.config_version, None);
        assert_eq!(hello.revocations_since, None);
    }

    #[test]
    fn revocations_round_trip_and_name_their_latest_time() {
        let early = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let late = OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap();
        let message = CoreMessage::Revocations(Revocations {
            sessions: vec![RevokedSession {
                id: Uuid::new_v4(),
                at: early,
            }],
            users: vec![RevokedUser {
                id: Uuid::new_v4(),
                at: late,
            }],
        });
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.starts_with(r#"{"type":"revocations""#), "{text}");
        let back: CoreMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, message);
        let CoreMessage::Revocations(r) = back else {
            unreachable!()
        };
        assert_eq!(r.latest(), Some(late));
    }

    #[test]
    fn an_unknown_message_type_is_an_error() {
        let err = serde_json::from_str::<OutpostMessage>(r#"{"type": "launch"}"#).unwrap_err();
        assert!(err.to_string().contains("launch"), "{err}");
    }
}
