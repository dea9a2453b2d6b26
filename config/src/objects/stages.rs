//! Settings of the stage kinds.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TimeDelta;
use super::duration::constant;

/// A field the identification stage matches what the user typed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserField {
    /// The username.
    Username,
    /// The email address.
    Email,
}

/// Asks who the user is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentificationStage {
    /// Which user fields the typed value is matched against.
    pub user_fields: Vec<UserField>,
    /// A password stage whose field is shown on the same page.
    pub password_stage: Option<Uuid>,
    /// Match ignoring case.
    pub case_insensitive_matching: bool,
    /// Go on to the next stage even when no user matches, so that nobody can learn
    /// which accounts exist.
    pub pretend_user_exists: bool,
    /// Show the matched user's name on the following stages.
    pub show_matched_user: bool,
    /// Flow linked as "Sign up".
    pub enrollment_flow: Option<Uuid>,
    /// Flow linked as "Forgot password?".
    pub recovery_flow: Option<Uuid>,
}

impl Default for IdentificationStage {
    fn default() -> Self {
        Self {
            user_fields: vec![UserField::Username, UserField::Email],
            password_stage: None,
            case_insensitive_matching: true,
            pretend_user_exists: true,
            show_matched_user: true,
            enrollment_flow: None,
            recovery_flow: None,
        }
    }
}

/// Checks the pending user's password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordStage {
    /// Wrong answers after which the flow is cancelled.
    pub failed_attempts_before_cancel: u32,
    /// Offer a button that shows the typed password.
    pub allow_show_password: bool,
}

impl Default for PasswordStage {
    fn default() -> Self {
        Self {
            failed_attempts_before_cancel: 5,
            allow_show_password: false,
        }
    }
}

/// Signs the pending user in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserLoginStage {
    /// How long the session lasts; `seconds=0` ends it with the browser session.
    pub session_duration: TimeDelta,
    /// Added to the session when the user ticks "stay signed in"; zero hides the box.
    pub remember_me_offset: TimeDelta,
    /// End the user's other sessions.
    pub terminate_other_sessions: bool,
}

impl Default for UserLoginStage {
    fn default() -> Self {
        Self {
            session_duration: constant("seconds=0"),
            remember_me_offset: constant("seconds=0"),
            terminate_other_sessions: false,
        }
    }
}

/// Ends the current session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserLogoutStage {}

/// When a consent stage asks again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Every time.
    #[default]
    AlwaysRequire,
    /// Once; asked again only when the application wants more scopes.
    Permanent,
    /// Once per `consent_expire_in`.
    Expiring,
}

/// Asks the user to let an application see what its scopes give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentStage {
    /// When to ask again.
    pub mode: ConsentMode,
    /// How long an `expiring` consent lasts.
    pub consent_expire_in: TimeDelta,
}

impl Default for ConsentStage {
    fn default() -> Self {
        Self {
            mode: ConsentMode::AlwaysRequire,
            consent_expire_in: constant("weeks=4"),
        }
    }
}

/// Stops the flow with a message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenyStage {
    /// Shown to the user; a generic message when empty.
    pub deny_message: String,
}

/// Where a redirect stage sends the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMode {
    /// To a fixed URL.
    #[default]
    Static,
    /// Into another flow.
    Flow,
}

/// Sends the user elsewhere.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedirectStage {
    /// URL or flow.
    pub mode: RedirectMode,
    /// The URL, in static mode.
    pub target_static: String,
    /// The flow, in flow mode.
    pub target_flow: Option<Uuid>,
    /// Carry the flow context into the next flow.
    pub keep_context: bool,
}

/// How a prompt field is shown and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptType {
    /// One line of text.
    #[default]
    Text,
    /// An email address (checked for a plausible shape).
    Email,
    /// A password: never shown again, kept only as its hash.
    Password,
    /// Not shown; its initial value is submitted.
    Hidden,
    /// A tick box: true when ticked.
    Checkbox,
}

/// One field of a prompt stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptField {
    /// Where the answer goes in the flow's prompt data (`email`, `password`…).
    pub field_key: String,
    /// The label shown.
    pub label: String,
    /// How it is shown and read.
    #[serde(default, rename = "type")]
    pub kind: PromptType,
    /// An empty answer is refused.
    #[serde(default = "yes")]
    pub required: bool,
    /// Shown in the empty field.
    #[serde(default)]
    pub placeholder: String,
    /// Filled in at first.
    #[serde(default)]
    pub initial_value: String,
}

fn yes() -> bool {
    true
}

/// Asks for data (profile fields, a new password) that later stages use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptStage {
    /// The fields, in order.
    pub fields: Vec<PromptField>,
    /// With fields `password` and `password_repeat`, the two must match.
    pub validate_password_repeat: bool,
    /// Policies the answers must pass (a password policy checks the password as
    /// typed, an expression sees the other answers in `flow.prompt_data`).
    pub validation_policies: Vec<Uuid>,
}

impl Default for PromptStage {
    fn default() -> Self {
        Self {
            fields: Vec::new(),
            validate_password_repeat: true,
            validation_policies: Vec::new(),
        }
    }
}

/// Whether a user-write stage may make a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserCreationMode {
    /// Only write to the flow's pending user.
    NeverCreate,
    /// Make a user when the flow has none pending.
    #[default]
    CreateWhenRequired,
    /// Always make a new user.
    AlwaysCreate,
}

/// Writes the flow's prompt data onto a user (making one when allowed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserWriteStage {
    /// Whether a user may be made.
    pub user_creation_mode: UserCreationMode,
    /// New users start inactive (an admin or a later stage activates them).
    pub create_users_as_inactive: bool,
    /// Group every new user joins.
    pub create_users_group: Option<Uuid>,
    /// Path of new users.
    pub user_path: String,
    /// Write to this user instead of the flow's pending one, whoever runs the flow
    /// (the initial-setup flow writes to `akadmin`). Guard such a flow with policies.
    pub user: Option<Uuid>,
}

impl Default for UserWriteStage {
    fn default() -> Self {
        Self {
            user_creation_mode: UserCreationMode::CreateWhenRequired,
            create_users_as_inactive: false,
            create_users_group: None,
            user_path: "users".into(),
            user: None,
        }
    }
}
