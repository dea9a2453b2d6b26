//! Typed identifiers. Every stored object is keyed by a UUID, kept as text in both
//! databases; a newtype per model stops a group id from being passed as a user id.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

    )*};
}

id_type!(
    /// A user.
    UserId,
    /// A group.
    GroupId,
    /// A token (API token, app password, recovery or verification link).
    TokenId,
    /// A brand.
    BrandId,
    /// A flow.
    FlowId,
    /// A stage.
    StageId,
    /// A flow's binding of a stage.
    StageBindingId,
    /// A policy.
    PolicyId,
    /// A policy binding.
    PolicyBindingId,
    /// An application.
    ApplicationId,
    /// A provider (OAuth2, proxy).
    ProviderId,
    /// A property mapping.
    PropertyMappingId,
    /// A certificate key pair.
    CertificateKeyPairId,
    /// An outpost.
    OutpostId,
    /// A core session; the `sid` claim outposts see.
    SessionId,
    /// An event in the event log.
    EventId,
    /// A flow in progress.
    FlowSessionId,
    /// An OAuth2 authorization code.
    OAuth2CodeId,
    /// An OAuth2 access or refresh token.
    OAuth2TokenId,
    /// An OAuth2 grant: a code and every token issued from it.
    GrantId,
    /// An RFC 8628 device authorization.
    DeviceCodeId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = UserId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<UserId>().unwrap(), id);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
