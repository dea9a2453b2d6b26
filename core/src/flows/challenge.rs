//! What a stage shows, as the JSON executor sends it and the HTML templates render
//! it. The shapes follow authentik's flow executor (`component`, `uid_field`,
//! `password`) so that scripts written against it need few changes.

use serde::{Deserialize, Serialize};

/// The flow's title, slug and look, on every challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInfo {
    /// The flow's title (its name when the title is empty).
    pub title: String,
    /// The flow's slug.
    pub slug: String,
    /// Where the form sits on the page (`stacked`, `content_left`, `content_right`,
    /// `sidebar_left`, `sidebar_right`).
    #[serde(default)]
    pub layout: String,
    /// Background image URL; empty for the brand's default.
    #[serde(default)]
    pub background: String,
}

/// A field's error, as shown under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The message.
    pub string: String,
    /// A short machine-readable code.
    pub code: String,
}

/// One thing a consent page asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// The scope.
    pub id: String,
    /// What it gives, in words.
    pub name: String,
}

/// The challenge of the current stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "component")]
pub enum Challenge {
    /// Who are you? Optionally with the password on the same page.
    #[serde(rename = "ak-stage-identification")]
    Identification {
        /// Title and slug.
        flow_info: FlowInfo,
        /// Which fields the typed value is matched against (`username`, `email`).
        user_fields: Vec<String>,
        /// A password field is on the same page.
        password_fields: bool,
        /// Link to the enrollment flow.
        enroll_url: Option<String>,
        /// Link to the recovery flow.
        recovery_url: Option<String>,
        /// Errors of the last answer, by field (`non_field_errors` for the form).
        response_errors: std::collections::BTreeMap<String, Vec<FieldError>>,
    },
    /// Your password, please.
    #[serde(rename = "ak-stage-password")]
    Password {
        /// Title and slug.
        flow_info: FlowInfo,
        /// Who is signing in, as typed.
        pending_user: String,
        /// Offer to show the typed password.
        allow_show_password: bool,
        /// Errors of the last answer.
        response_errors: std::collections::BTreeMap<String, Vec<FieldError>>,
    },
    /// Fields to fill in.
    #[serde(rename = "ak-stage-prompt")]
    Prompt {
        /// Title and slug.
        flow_info: FlowInfo,
        /// The fields, in order (passwords never carry a value back).
        fields: Vec<gatehouse_config::objects::PromptField>,
        /// Errors of the last answer, by field key.
        response_errors: std::collections::BTreeMap<String, Vec<FieldError>>,
    },
    /// "Stay signed in?" (only when the stage offers a longer session for it).
    #[serde(rename = "ak-stage-user-login")]
    UserLogin {
        /// Title and slug.
        flow_info: FlowInfo,
        /// Who is signing in.
        pending_user: String,
    },
    /// May the application see this?
    #[serde(rename = "ak-stage-consent")]
    Consent {
        /// Title and slug.
        flow_info: FlowInfo,
        /// What is asked, naming the application.
        header_text: String,
        /// What the application gets, one line per scope.
        permissions: Vec<Permission>,
    },
    /// The flow stops here.
    #[serde(rename = "ak-stage-access-denied")]
    AccessDenied {
        /// Title and slug.
        flow_info: FlowInfo,
        /// Why.
        error_message: String,
    },
    /// Go there (the flow completed, or a redirect stage).
    #[serde(rename = "xak-flow-redirect")]
    Redirect {
        /// The URL.
        to: String,
    },
}

impl Challenge {
    /// The first error the challenge carries (form-wide first, then by field).
    pub fn first_error(&self) -> Option<&str> {
        let errors = match self {
            Self::Identification {
                response_errors, ..
            }
            | Self::Password {
                response_errors, ..
            }
            | Self::Prompt {
                response_errors, ..
            } => response_errors,
            _ => return None,
        };
        errors
            .get("non_field_errors")
            .into_iter()
            .chain(errors.values())
            .flatten()
            .map(|e| e.string.as_str())
            .next()
    }

    /// Shows `message` as an error of the whole form, when the challenge is a form.
    pub fn set_form_error(&mut self, message: &str) {
        if let Self::Identification {
            response_errors, ..
        }
        | Self::Password {
            response_errors, ..
        }
        | Self::Prompt {
            response_errors, ..
        } = self
        {
            *response_errors = Self::form_error(message);
        }
    }

    /// One error for the whole form.
    pub fn form_error(message: &str) -> std::collections::BTreeMap<String, Vec<FieldError>> {
        std::collections::BTreeMap::from([(
            "non_field_errors".to_owned(),
            vec![FieldError {
                string: message.to_owned(),
                code: "invalid".to_owned(),
            }],
        )])
    }
}
