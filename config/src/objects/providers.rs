//! Settings of the provider kinds, of property mappings and of outposts.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TimeDelta;
use super::duration::constant;

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// A server-side application with a client secret.
    #[default]
    Confidential,
    /// A browser or native application; PKCE required.
    Public,
}

/// How a redirect URI is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectUriMatching {
    /// Exact string comparison.
    #[default]
    Strict,
    /// A regular expression matched against the whole URI.
    Regex,
}

/// One allowed redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectUri {
    /// How `url` is compared.
    #[serde(default)]
    pub matching_mode: RedirectUriMatching,
    /// The URI or pattern.
    pub url: String,
}

/// What the `sub` claim holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubMode {
    /// A hash of the user id, per provider.
    #[default]
    HashedUserId,
    /// The user's id.
    UserUuid,
    /// The username.
    UserUsername,
    /// The email address.
    UserEmail,
}

/// Which issuer the provider's tokens name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerMode {
    /// One issuer per application (`/application/o/<slug>/`).
    #[default]
    PerProvider,
    /// One issuer for the whole instance.
    Global,
}

/// An OAuth 2.0 / OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuth2Provider {
    /// The client id relying parties present.
    pub client_id: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// The client secret of a confidential client.
    pub client_secret: String,
    /// Where the authorization endpoint may send the browser back to.
    pub redirect_uris: Vec<RedirectUri>,
    /// Certificate key pair that signs ID tokens.
    pub signing_key: Option<Uuid>,
    /// Lifetime of authorization codes.
    pub access_code_validity: TimeDelta,
    /// Lifetime of access tokens.
    pub access_token_validity: TimeDelta,
    /// Lifetime of refresh tokens.
    pub refresh_token_validity: TimeDelta,
    /// What `sub` holds.
    pub sub_mode: SubMode,
    /// Per-provider or global issuer.
    pub issuer_mode: IssuerMode,
    /// Put the scope claims in the ID token too, not only in userinfo.
    pub include_claims_in_id_token: bool,
}

impl Default for OAuth2Provider {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_type: ClientType::Confidential,
            client_secret: String::new(),
            redirect_uris: Vec::new(),
            signing_key: None,
            access_code_validity: constant("minutes=1"),
            access_token_validity: constant("minutes=5"),
            refresh_token_validity: constant("days=30"),
            sub_mode: SubMode::HashedUserId,
            issuer_mode: IssuerMode::PerProvider,
            include_claims_in_id_token: true,
        }
    }
}

/// How a proxy provider sits in front of its application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyMode {
    /// The outpost is the reverse proxy.
    #[default]
    Proxy,
    /// Forward auth for one host.
    ForwardSingle,
    /// Forward auth for every host under `cookie_domain`.
    ForwardDomain,
}

/// A proxy (forward-auth) provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyProvider {
    /// Proxy, single-host or domain forward auth.
    pub mode: ProxyMode,
    /// The URL users open.
    pub external_host: String,
    /// Where proxy mode sends requests.
    pub internal_host: String,
    /// Verify the internal host's certificate.
    pub internal_host_ssl_validation: bool,
    /// The cookie domain of domain mode.
    pub cookie_domain: String,
    /// Paths (regular expressions, one per line) that need no login.
    pub skip_path_regex: String,
    /// Send HTTP Basic credentials from user attributes upstream.
    pub basic_auth_enabled: bool,
    /// The user attribute holding the Basic username.
    pub basic_auth_user_attribute: String,
    /// The user attribute holding the Basic password.
    pub basic_auth_password_attribute: String,
    /// Accept `Authorization: Bearer` access tokens of the core.
    pub intercept_header_auth: bool,
    /// Lifetime of the outpost's session.
    pub access_token_validity: TimeDelta,
    /// Also send authentik's `X-authentik-*` header names.
    pub authentik_headers: bool,
    /// The client id the outpost signs users in with (the provider is an OAuth2
    /// client of the core too). Generated when the provider is made.
    pub client_id: String,
    /// The outpost's client secret. Generated when the provider is made.
    pub client_secret: String,
    /// The key that seals the outpost's session cookies; every outpost replica of
    /// the provider gets it over the control channel. Generated when the provider is
    /// made.
    pub cookie_secret: String,
}

impl ProxyProvider {
    /// The path under every external host where the outpost takes the browser back
    /// from the core's authorization endpoint.
    pub const CALLBACK_PATH: &'static str = "/outpost.gatehouse/callback";
}

impl Default for ProxyProvider {
    fn default() -> Self {
        Self {
            mode: ProxyMode::Proxy,
            external_host: String::new(),
            internal_host: String::new(),
            internal_host_ssl_validation: true,
            cookie_domain: String::new(),
            skip_path_regex: String::new(),
            basic_auth_enabled: false,
            basic_auth_user_attribute: String::new(),
            basic_auth_password_attribute: String::new(),
            intercept_header_auth: true,
            access_token_validity: constant("hours=24"),
            authentik_headers: false,
            client_id: String::new(),
            client_secret: String::new(),
            cookie_secret: String::new(),
        }
    }
}

/// An OAuth2 scope's claims (or an outpost's headers), computed by a CEL
/// expression returning a map. The expression itself is a common field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopeMapping {
    /// The scope that selects this mapping.
    pub scope_name: String,
    /// Shown on the consent page.
    pub description: String,
}

/// The settings of an outpost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutpostConfig {
    /// The outpost's log level.
    pub log_level: String,
    /// The URL browsers use to reach the core, when it differs from the one the
    /// outpost connects to.
    pub gatehouse_host_browser: String,
}

impl Default for OutpostConfig {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            gatehouse_host_browser: String::new(),
        }
    }
}
