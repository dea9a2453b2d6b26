//! The settings of `gatehouse outpost`, the standalone outpost process. Same rules as
//! the core's: `GATEHOUSE_*` variables (or the file `GATEHOUSE_CONFIG` names), every
//! invalid one refused with its name.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{
    Environment, ListenSettings, LogFormat, LogLevel, SettingsError, TlsSettings, env_name,
    extract, file_and_vars,
};
use crate::secret::Secret;

/// Every setting of an outpost process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutpostSettings {
    /// The core's URL (`GATEHOUSE_HOST`), e.g. `https://id.example.org`.
    #[serde(deserialize_with = "de_host")]
    pub host: String,
    /// The outpost's token (`GATEHOUSE_TOKEN`), shown once when the outpost was made.
    #[serde(deserialize_with = "de_token")]
    pub token: Option<Secret>,
    /// Skip verifying the core's TLS certificate (`GATEHOUSE_INSECURE`). Dangerous:
    /// anyone on the path could pose as the core. Off by default.
    pub insecure: bool,
    /// Folder for the last config and revocations, enforced when the outpost starts
    /// without a reachable core.
    pub data_dir: PathBuf,
    /// Minimum level of log lines.
    pub log_level: LogLevel,
    /// Log line format.
    pub log_format: LogFormat,
    /// Listening addresses (9000, 9443, 9300 as the core's).
    pub listen: ListenSettings,
    /// The HTTPS listener's certificate; a self-signed pair is made at start when
    /// unset.
    pub tls: TlsSettings,
}

impl Default for OutpostSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            token: None,
            insecure: false,
            data_dir: PathBuf::from("./outpost-data"),
            log_level: LogLevel::default(),
            log_format: LogFormat::default(),
            listen: ListenSettings::default(),
            tls: TlsSettings::default(),
        }
    }
}

impl OutpostSettings {
    /// Loads defaults, the settings file, then the environment; the core's URL and
    /// the token are required.
    pub fn load(env: &impl Environment) -> Result<Self, SettingsError> {
        let (file, vars) = file_and_vars(env);
        let settings: Self = extract(file.as_deref(), vars)?;
        if settings.host.is_empty() {
            return Err(SettingsError::Invalid {
                name: env_name(&["host"]),
                message: "must be set to the core's URL, such as https://id.example.org".into(),
            });
        }
        if settings.token.is_none() {
            return Err(SettingsError::Invalid {
                name: env_name(&["token"]),
                message: "must be set to the outpost's token".into(),
            });
        }
        settings.tls.validate()?;
        Ok(settings)
    }
}

fn de_host<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    let raw = String::deserialize(de)?;
    let trimmed = raw.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => {
            Ok(trimmed.to_owned())
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected the core's URL with no path, such as https://id.example.org, got {raw:?}"
        ))),
    }
}

fn de_token<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Secret>, D::Error> {
    let raw = String::deserialize(de)?;
    Ok((!raw.trim().is_empty()).then(|| Secret::new(raw.trim().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars(Vec<(&'static str, &'static str)>);

    impl Environment for Vars {
        fn vars(&self) -> Vec<(String, String)> {
            self.0
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        }
    }

    #[test]
    fn host_and_token_are_read_and_required() {
        let settings = OutpostSettings::load(&Vars(vec![
            ("GATEHOUSE_HOST", "https://id.example.org/"),
            ("GATEHOUSE_TOKEN", "t0ken"),
            ("GATEHOUSE_INSECURE", "true"),
            ("GATEHOUSE_LISTEN__HTTP", "127.0.0.1:9100"),
        ]))
        .unwrap();
        assert_eq!(settings.host, "https://id.example.org");
        assert_eq!(settings.token.unwrap().expose(), "t0ken");
        assert!(settings.insecure);
        assert_eq!(settings.listen.http.port(), 9100);

        let err = OutpostSettings::load(&Vars(vec![("GATEHOUSE_TOKEN", "t")])).unwrap_err();
        assert!(err.to_string().contains("GATEHOUSE_HOST"), "{err}");
        let err =
            OutpostSettings::load(&Vars(vec![("GATEHOUSE_HOST", "http://core:9000")])).unwrap_err();
        assert!(err.to_string().contains("GATEHOUSE_TOKEN"), "{err}");
    }

    #[test]
    fn a_host_with_a_path_or_another_scheme_is_refused_by_name() {
        for bad in ["core:9000", "ftp://core", "https://core/path", "https://"] {
            let err = OutpostSettings::load(&Vars(vec![
                ("GATEHOUSE_HOST", bad),
                ("GATEHOUSE_TOKEN", "t"),
            ]))
            .unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("invalid setting GATEHOUSE_HOST"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_core_setting_is_not_an_outpost_setting() {
        let err = OutpostSettings::load(&Vars(vec![
            ("GATEHOUSE_HOST", "http://core"),
            ("GATEHOUSE_TOKEN", "t"),
            ("GATEHOUSE_DATABASE__URL", "postgres://x"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("GATEHOUSE_DATABASE"), "{err}");
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_by_name() {
        let err = OutpostSettings::load(&Vars(vec![
            ("GATEHOUSE_HOST", "http://core"),
            ("GATEHOUSE_TOKEN", "t"),
            ("GATEHOUSE_TLS__CERTIFICATE", "/etc/outpost.pem"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("GATEHOUSE_TLS__KEY"), "{err}");
        let both = OutpostSettings::load(&Vars(vec![
            ("GATEHOUSE_HOST", "http://core"),
            ("GATEHOUSE_TOKEN", "t"),
            ("GATEHOUSE_TLS__CERTIFICATE", "/etc/outpost.pem"),
            ("GATEHOUSE_TLS__KEY", "/etc/outpost.key"),
            ("GATEHOUSE_LISTEN__HTTPS", "127.0.0.1:9444"),
        ]))
        .unwrap();
        assert_eq!(both.listen.https.to_string(), "127.0.0.1:9444");
    }
}
