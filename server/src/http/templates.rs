//! Server-rendered flow pages: one template per challenge kind, extending a base that
//! carries the brand (title, logo, favicon, custom CSS). minijinja escapes HTML in
//! every `{{ }}` of an `.html` template.

use std::sync::OnceLock;

use gatehouse_core::flows::Challenge;
use minijinja::{Environment, context};
use serde::Serialize;

/// What templates know of the brand.
#[derive(Debug, Clone, Serialize)]
pub struct BrandView {
    /// Shown in the page title.
    pub title: String,
    /// Logo URL.
    pub logo: String,
    /// Favicon URL.
    pub favicon: String,
    /// Extra CSS.
    pub custom_css: String,
}

impl Default for BrandView {
    fn default() -> Self {
        Self {
            title: "Gatehouse".into(),
            logo: String::new(),
            favicon: String::new(),
            custom_css: String::new(),
        }
    }
}

impl BrandView {
    /// The look of `brand`, or the default look when there is none.
    pub fn of(brand: Option<&gatehouse_core::storage::brands::Brand>) -> Self {
        match brand {
            Some(b) => Self {
                title: b.title.clone(),
                logo: b.logo.clone(),
                favicon: b.favicon.clone(),
                custom_css: b.custom_css.clone(),
            },
            None => Self::default(),
        }
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../../templates/base.html")),
            (
                "identification.html",
                include_str!("../../templates/identification.html"),
            ),
            (
                "password.html",
                include_str!("../../templates/password.html"),
            ),
            (
                "user_login.html",
                include_str!("../../templates/user_login.html"),
            ),
            (
                "access_denied.html",
                include_str!("../../templates/access_denied.html"),
            ),
            ("home.html", include_str!("../../templates/home.html")),
            ("prompt.html", include_str!("../../templates/prompt.html")),
            ("consent.html", include_str!("../../templates/consent.html")),
            ("device.html", include_str!("../../templates/device.html")),
        ] {
            // The templates are part of the binary and checked by tests; a broken one
            // shows up as a render error, not a crash.
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "template does not parse");
            }
        }
        env
    })
}

/// What the signed-in user's landing page shows.
#[derive(Debug, Serialize)]
pub struct HomeView<'a> {
    /// Login name.
    pub username: &'a str,
    /// Display name (the login name when empty).
    pub name: &'a str,
    /// The brand's sign-out flow.
    pub sign_out_url: Option<String>,
    /// The brand's user-settings flow.
    pub settings_url: Option<String>,
    /// The applications the user may open (the others are not shown).
    pub applications: Vec<AppLink>,
    /// The user's sessions in force.
    pub sessions: &'a [crate::http::sessions::SessionView],
    /// Token for the revoke buttons, bound to this browser's session.
    pub csrf_token: String,
}

/// An application on the landing page.
#[derive(Debug, Serialize)]
pub struct AppLink {
    /// Its name.
    pub name: String,
    /// Where it opens; empty when it has no launch URL.
    pub url: String,
    /// Its group in the launcher.
    pub group: String,
}

/// The page where a user types a device's code (RFC 8628 §3.3); `approved` once
/// the device is signed in.
pub fn render_device(
    brand: &BrandView,
    csrf: &str,
    code: &str,
    error: Option<&str>,
    approved: bool,
) -> Result<String, minijinja::Error> {
    environment().get_template("device.html")?.render(context! {
        brand => brand,
        csrf_token => csrf,
        code => code,
        error => error,
        approved => approved,
        flow_title => "Sign in a device",
    })
}

/// The signed-in user's landing page.
pub fn render_home(brand: &BrandView, home: &HomeView<'_>) -> Result<String, minijinja::Error> {
    let name = if home.name.is_empty() {
        home.username
    } else {
        home.name
    };
    environment().get_template("home.html")?.render(context! {
        brand => brand,
        home => home,
        name => name,
    })
}

/// The page of `challenge` (not a redirect).
pub fn render(
    challenge: &Challenge,
    brand: &BrandView,
    csrf: &str,
) -> Result<String, minijinja::Error> {
    let (template, flow, uid_label, errors) = match challenge {
        Challenge::Identification {
            flow_info,
            user_fields,
            response_errors,
            ..
        } => {
            let label = match user_fields.as_slice() {
                [one] if one == "email" => "Email",
                [one] if one == "username" => "Username",
                _ => "Username or email",
            };
            (
                "identification.html",
                flow_info,
                label,
                Some(response_errors),
            )
        }
        Challenge::Password {
            flow_info,
            response_errors,
            ..
        } => ("password.html", flow_info, "", Some(response_errors)),
        Challenge::UserLogin { flow_info, .. } => ("user_login.html", flow_info, "", None),
        Challenge::Prompt { flow_info, .. } => ("prompt.html", flow_info, "", None),
        Challenge::AccessDenied { flow_info, .. } => ("access_denied.html", flow_info, "", None),
        Challenge::Consent { flow_info, .. } => ("consent.html", flow_info, "", None),
        Challenge::Redirect { .. } => {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "a redirect has no page",
            ));
        }
    };
    let errors: Vec<String> = errors
        .into_iter()
        .flat_map(|map| map.values())
        .flatten()
        .map(|e| e.string.clone())
        .collect();
    // A prompt's errors show under their fields, the form's own (from its validation
    // policies) above them.
    let (errors, field_errors): (Vec<String>, std::collections::BTreeMap<String, Vec<String>>) =
        match challenge {
            Challenge::Prompt {
                response_errors, ..
            } => (
                response_errors
                    .get("non_field_errors")
                    .into_iter()
                    .flatten()
                    .map(|e| e.string.clone())
                    .collect(),
                response_errors
                    .iter()
                    .map(|(k, v)| (k.clone(), v.iter().map(|e| e.string.clone()).collect()))
                    .collect(),
            ),
            _ => (errors, Default::default()),
        };
    environment().get_template(template)?.render(context! {
        challenge => challenge,
        brand => brand,
        csrf_token => csrf,
        flow_title => &flow.title,
        flow_layout => layout_class(&flow.layout),
        flow_background => css_url(&flow.background),
        uid_label => uid_label,
        errors => errors,
        field_errors => field_errors,
    })
}

/// The page class of a flow layout; anything unknown is the default, `stacked`.
fn layout_class(layout: &str) -> &'static str {
    match layout {
        "content_left" => "content_left",
        "content_right" => "content_right",
        "sidebar_left" => "sidebar_left",
        "sidebar_right" => "sidebar_right",
        _ => "stacked",
    }
}

/// `url` when it can sit inside CSS `url("…")` as it is: no quote, bracket, backslash,
/// angle bracket or control character that could end the value early.
fn css_url(url: &str) -> Option<&str> {
    let safe = !url.is_empty()
        && !url
            .chars()
            .any(|c| c.is_control() || "\"'()\\<>".contains(c) || c.is_whitespace());
    safe.then_some(url)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn the_home_page_links_the_brand_flows_and_lists_sessions() {
        use crate::http::sessions::SessionView;
        let at = gatehouse_core::Timestamp::from_datetime(
            time::macros::datetime!(2026-11-29 08:15:30 UTC),
        );
        let session = |current: bool, agent: &str| SessionView {
            uuid: gatehouse_core::ids::SessionId::new(),
            current,
            last_ip: "192.0.2.7".into(),
            last_user_agent: agent.into(),
            created: at,
            last_used: at,
            expires: at,
        };
        let sessions = [session(true, "Mine"), session(false, "<Phone>")];
        let home = HomeView {
            username: "alice",
            name: "",
            sign_out_url: Some("/if/flow/out/".into()),
            settings_url: Some("/if/flow/settings/".into()),
            applications: vec![AppLink {
                name: "Grafana <prod>".into(),
                url: "https://grafana.example.org/".into(),
                group: "Monitoring".into(),
            }],
            sessions: &sessions,
            csrf_token: "tok-9".into(),
        };
        let html = render_home(&BrandView::default(), &home).unwrap();
        assert!(html.contains("<h1>Hello, alice</h1>"), "{html}");
        assert!(html.contains("Your settings"), "{html}");
        assert!(html.contains("This browser"), "{html}");
        assert!(
            html.contains(
                r#"<a href="https:&#x2f;&#x2f;grafana.example.org&#x2f;">Grafana &lt;prod&gt;</a>"#
            ),
            "{html}"
        );
        assert!(
            html.contains("&lt;Phone&gt;") && !html.contains("<Phone>"),
            "{html}"
        );
        assert!(html.contains("signed in 2026-11-29 08:15 UTC"), "{html}");
        // One button, for the other session, carrying the token and its id.
        assert_eq!(html.matches("Sign out this session").count(), 1, "{html}");
        assert!(
            html.contains(r#"name="csrf_token" value="tok-9""#),
            "{html}"
        );
        assert!(html.contains(&sessions[1].uuid.to_string()), "{html}");
        let bare = HomeView {
            settings_url: None,
            applications: Vec::new(),
            ..home
        };
        let html = render_home(&BrandView::default(), &bare).unwrap();
        assert!(!html.contains("Your settings"), "{html}");
        assert!(!html.contains("Your applications"), "{html}");
    }

    #[test]
    fn unknown_layouts_fall_back_and_unsafe_backgrounds_are_dropped() {
        assert_eq!(super::layout_class("content_left"), "content_left");
        assert_eq!(super::layout_class("\"><script>"), "stacked");
        assert_eq!(
            super::css_url("https://cdn.example/bg.jpg"),
            Some("https://cdn.example/bg.jpg")
        );
        for bad in ["", "x'); color: red", "a b", "x)\\", "x\"y", "<y>"] {
            assert_eq!(super::css_url(bad), None, "{bad}");
        }
    }

    use gatehouse_core::flows::challenge::FlowInfo;

    use super::*;

    fn info() -> FlowInfo {
        FlowInfo {
            title: "Welcome <back>".into(),
            slug: "login".into(),
            layout: "sidebar_right".into(),
            background: "/static/bg.jpg".into(),
        }
    }

    #[test]
    fn every_page_renders_labelled_escaped_and_with_the_csrf_token() {
        let brand = BrandView {
            title: "Example & Co".into(),
            ..BrandView::default()
        };
        let pages = [
            Challenge::Identification {
                flow_info: info(),
                user_fields: vec!["username".into(), "email".into()],
                password_fields: true,
                enroll_url: Some("/if/flow/enroll/".into()),
                recovery_url: None,
                response_errors: Challenge::form_error("Failed to authenticate."),
            },
            Challenge::Password {
                flow_info: info(),
                pending_user: "<alice>".into(),
                allow_show_password: false,
                response_errors: BTreeMap::new(),
            },
            Challenge::UserLogin {
                flow_info: info(),
                pending_user: "alice".into(),
            },
            Challenge::AccessDenied {
                flow_info: info(),
                error_message: "No admins here".into(),
            },
            Challenge::Prompt {
                flow_info: info(),
                fields: vec![
                    gatehouse_config::objects::PromptField {
                        field_key: "email".into(),
                        label: "Email".into(),
                        kind: gatehouse_config::objects::PromptType::Email,
                        required: true,
                        placeholder: String::new(),
                        initial_value: "<old>@example.org".into(),
                    },
                    gatehouse_config::objects::PromptField {
                        field_key: "password".into(),
                        label: "New password".into(),
                        kind: gatehouse_config::objects::PromptType::Password,
                        required: true,
                        placeholder: String::new(),
                        initial_value: "never-shown".into(),
                    },
                ],
                response_errors: BTreeMap::from([(
                    "email".to_owned(),
                    vec![gatehouse_core::flows::challenge::FieldError {
                        string: "Enter a valid email address.".into(),
                        code: "invalid".into(),
                    }],
                )]),
            },
        ];
        for page in &pages {
            let html = render(page, &brand, "tok-123").unwrap();
            assert!(html.contains("Welcome &lt;back&gt;"), "{html}");
            assert!(html.contains("Example &amp; Co"), "{html}");
            assert!(
                !html.contains("<back>") && !html.contains("<alice>"),
                "{html}"
            );
            if !matches!(page, Challenge::AccessDenied { .. }) {
                assert!(
                    html.contains(r#"name="csrf_token" value="tok-123""#),
                    "{html}"
                );
            }
        }
        let prompt = render(&pages[4], &brand, "t").unwrap();
        assert!(
            prompt.contains(r#"<label for="email">Email</label>"#),
            "{prompt}"
        );
        assert!(prompt.contains(r#"type="email" id="email""#), "{prompt}");
        assert!(prompt.contains("&lt;old&gt;@example.org"), "{prompt}");
        assert!(prompt.contains("Enter a valid email address."), "{prompt}");
        assert!(
            !prompt.contains("never-shown"),
            "a password field never carries a value"
        );
        let login = render(&pages[0], &brand, "t").unwrap();
        // The flow's layout and background reach the page.
        assert!(
            login.contains(r#"<body class="layout-sidebar_right background" style="background-image: url('&#x2f;static&#x2f;bg.jpg')">"#),
            "{login}"
        );
        assert!(login.contains(r#"<label for="uid_field">Username or email</label>"#));
        assert!(login.contains(r#"<label for="password">Password</label>"#));
        assert!(login.contains("Failed to authenticate."));
        // minijinja escapes `/` too; browsers read it back as `/`.
        assert!(
            login.contains(r#"href="&#x2f;if&#x2f;flow&#x2f;enroll&#x2f;""#),
            "{login}"
        );
    }
}
