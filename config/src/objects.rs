//! The settings of each kind of stage, policy, provider and property mapping, as they
//! appear in a blueprint's `attrs` (beside the common fields such as `name`) and as
//! the engine reads them from storage. References to other objects are UUIDs.
//!
//! Every type refuses unknown fields and fills missing ones with the defaults
//! authentik uses where the concept is the same. A reference to another object is
//! its id as a string; each kind lists those fields in [`Kind::references`] so that
//! export can write them as `!KeyOf`.

use serde::Serialize;
use serde::de::DeserializeOwned;

mod duration;
mod policies;
mod providers;
mod stages;

pub use duration::{DurationError, TimeDelta};
pub use policies::{ExpiryPolicy, ExpressionPolicy, PasswordPolicy, ReputationPolicy, SetupPolicy};
pub use providers::{
    ClientType, IssuerMode, OAuth2Provider, OutpostConfig, ProxyMode, ProxyProvider, RedirectUri,
    RedirectUriMatching, ScopeMapping, SubMode,
};
pub use stages::{
    ConsentMode, ConsentStage, DenyStage, IdentificationStage, PasswordStage, PromptField,
    PromptStage, PromptType, RedirectMode, RedirectStage, UserCreationMode, UserField,
    UserLoginStage, UserLogoutStage, UserWriteStage,
};

/// One kind of a family (a stage kind, a policy kind…): its stored word, its
/// blueprint model name, and how its settings are checked.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The word stored in the `kind` column, e.g. `identification`.
    pub name: &'static str,
    /// The blueprint model, e.g. `gatehouse_stages_identification.identificationstage`.
    pub model: &'static str,
    /// Settings fields that hold the id of another object (or a list of ids).
    pub references: &'static [&'static str],
    normalize: fn(serde_json::Value) -> Result<serde_json::Value, FieldError>,
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.model == other.model
    }
}

impl Eq for Kind {}

impl Kind {
    /// Checks `settings` against the kind's type and returns them with every default
    /// filled in, in a canonical form (equal settings give equal JSON).
    pub fn normalize(&self, settings: serde_json::Value) -> Result<serde_json::Value, FieldError> {
        (self.normalize)(settings)
    }
}

/// A settings field that is wrong: its path (`user_fields[1]`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct FieldError {
    /// Where inside the value, empty for the value itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// The first segment of the path: the top-level field the error is in.
    pub fn field(&self) -> &str {
        self.path.split(['.', '[']).next().unwrap_or_default()
    }
}

/// Deserializes `value` as `T` and serializes it back: validation plus defaults.
pub fn normalize_as<T: Serialize + DeserializeOwned>(
    value: serde_json::Value,
) -> Result<serde_json::Value, FieldError> {
    let typed: T = deserialize(value)?;
    serde_json::to_value(typed).map_err(|e| FieldError {
        path: String::new(),
        message: e.to_string(),
    })
}

/// Deserializes `value` as `T`, naming the field that does not fit.
pub fn deserialize<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        FieldError {
            path: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

macro_rules! kinds {
    ($(#[$doc:meta])* $all:ident: $($name:literal, $model:literal, $ty:ty, [$($r:literal),*];)+) => {
        $(#[$doc])*
        pub const $all: &[Kind] = &[$(Kind {
            name: $name,
            model: $model,
            references: &[$($r),*],
            normalize: normalize_as::<$ty>,
        }),+];
    };
}

kinds!(
    /// Every stage kind.
    STAGE_KINDS:
    "identification", "gatehouse_stages_identification.identificationstage", IdentificationStage,
        ["password_stage", "enrollment_flow", "recovery_flow"];
    "password", "gatehouse_stages_password.passwordstage", PasswordStage, [];
    "user_login", "gatehouse_stages_user_login.userloginstage", UserLoginStage, [];
    "user_logout", "gatehouse_stages_user_logout.userlogoutstage", UserLogoutStage, [];
    "deny", "gatehouse_stages_deny.denystage", DenyStage, [];
    "consent", "gatehouse_stages_consent.consentstage", ConsentStage, [];
    "redirect", "gatehouse_stages_redirect.redirectstage", RedirectStage, ["target_flow"];
    "prompt", "gatehouse_stages_prompt.promptstage", PromptStage, ["validation_policies"];
    "user_write", "gatehouse_stages_user_write.userwritestage", UserWriteStage,
        ["create_users_group", "user"];
);

kinds!(
    /// Every policy kind.
    POLICY_KINDS:
    "expression", "gatehouse_policies_expression.expressionpolicy", ExpressionPolicy, [];
    "password", "gatehouse_policies_password.passwordpolicy", PasswordPolicy, [];
    "reputation", "gatehouse_policies_reputation.reputationpolicy", ReputationPolicy, [];
    "expiry", "gatehouse_policies_expiry.passwordexpirypolicy", ExpiryPolicy, [];
    "setup", "gatehouse_policies_setup.setuppolicy", SetupPolicy, [];
);

kinds!(
    /// Every provider kind.
    PROVIDER_KINDS:
    "oauth2", "gatehouse_providers_oauth2.oauth2provider", OAuth2Provider, ["signing_key"];
    "proxy", "gatehouse_providers_proxy.proxyprovider", ProxyProvider, [];
);

kinds!(
    /// Every property mapping kind.
    PROPERTY_MAPPING_KINDS:
    "scope", "gatehouse_providers_oauth2.scopemapping", ScopeMapping, [];
);

/// The kind of `family` stored as `name`.
pub fn kind_named(family: &[Kind], name: &str) -> Option<Kind> {
    family.iter().copied().find(|k| k.name == name)
}

#[cfg(test)]
mod tests;
