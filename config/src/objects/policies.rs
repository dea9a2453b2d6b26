//! Settings of the policy kinds.

use serde::{Deserialize, Serialize};

/// A CEL expression that must evaluate to true.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpressionPolicy {
    /// The expression.
    pub expression: String,
}

/// Rules a new password must follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// The prompt field holding the password.
    pub password_field: String,
    /// Minimum length.
    pub length_min: u32,
    /// Minimum upper-case letters.
    pub amount_uppercase: u32,
    /// Minimum lower-case letters.
    pub amount_lowercase: u32,
    /// Minimum digits.
    pub amount_digits: u32,
    /// Minimum symbols.
    pub amount_symbols: u32,
    /// Minimum strength score, 0 (any) to 4.
    pub zxcvbn_score_threshold: u8,
    /// Passwords refused outright.
    pub forbidden_passwords: Vec<String>,
    /// Shown when the password is refused.
    pub error_message: String,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            password_field: "password".into(),
            length_min: 8,
            amount_uppercase: 0,
            amount_lowercase: 0,
            amount_digits: 0,
            amount_symbols: 0,
            zxcvbn_score_threshold: 0,
            forbidden_passwords: Vec::new(),
            error_message: String::new(),
        }
    }
}

/// Fails when recent failed logins push a score under the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReputationPolicy {
    /// Count failures of the client IP.
    pub check_ip: bool,
    /// Count failures of the username.
    pub check_username: bool,
    /// Scores at or under this fail.
    pub threshold: i32,
}

impl Default for ReputationPolicy {
    fn default() -> Self {
        Self {
            check_ip: true,
            check_username: true,
            threshold: -5,
        }
    }
}

/// Fails when the password is older than `days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpiryPolicy {
    /// Maximum age of a password.
    pub days: u32,
    /// Only deny; do not also mark the password unusable.
    pub deny_only: bool,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            days: 90,
            deny_only: false,
        }
    }
}

/// Passes while no member of a superuser group has a usable password, so that the
/// initial-setup flow works once and never again.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SetupPolicy {}
