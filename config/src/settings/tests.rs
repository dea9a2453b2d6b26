use std::io::Write;

use super::*;

fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let map: std::collections::BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::load(&map)
}

#[test]
fn defaults_serve_a_first_start() {
    let s = load(&[]).unwrap();
    assert_eq!(s.data_dir, PathBuf::from("./data"));
    assert_eq!(s.blueprints_dir, PathBuf::from("./blueprints"));
    assert_eq!(s.listen.http.to_string(), "0.0.0.0:9000");
    assert_eq!(s.listen.https.to_string(), "0.0.0.0:9443");
    assert_eq!(s.listen.metrics.to_string(), "0.0.0.0:9300");
    assert_eq!(s.database_url().kind(), DatabaseKind::Sqlite);
    assert_eq!(s.database_url().expose(), "sqlite://./data/gatehouse.db");
    assert!(s.secret_key.is_none());
    assert_eq!(s.log_format, LogFormat::Text);
}

#[test]
fn nested_environment_variables_set_nested_settings() {
    let s = load(&[
        ("GATEHOUSE_LISTEN__HTTP", "127.0.0.1:8080"),
        ("GATEHOUSE_DATABASE__URL", "postgres://gh:pw@localhost/gh"),
        ("GATEHOUSE_DATABASE__MAX_CONNECTIONS", "20"),
        ("GATEHOUSE_LOG_FORMAT", "json"),
        ("GATEHOUSE_DATA_DIR", "/var/lib/gatehouse"),
        ("GATEHOUSE_BLUEPRINTS_DIR", "/etc/gatehouse/blueprints"),
        ("OTHER_VAR", "ignored"),
    ])
    .unwrap();
    assert_eq!(s.listen.http.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database.max_connections, 20);
    assert_eq!(s.database_url().kind(), DatabaseKind::Postgres);
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.data_dir, PathBuf::from("/var/lib/gatehouse"));
    assert_eq!(s.blueprints_dir, PathBuf::from("/etc/gatehouse/blueprints"));
}

#[test]
fn bad_listen_address_names_the_variable() {
    let err = load(&[("GATEHOUSE_LISTEN__HTTP", "nonsense")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid setting GATEHOUSE_LISTEN__HTTP:"),
        "{err}"
    );
    assert!(err.contains("0.0.0.0:9000"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn bad_number_and_enum_name_their_variables() {
    let err = load(&[("GATEHOUSE_DATABASE__MAX_CONNECTIONS", "many")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_DATABASE__MAX_CONNECTIONS"), "{err}");
    let err = load(&[("GATEHOUSE_LOG_LEVEL", "loud")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_LOG_LEVEL"), "{err}");
    assert!(err.contains("info"), "lists the accepted values: {err}");
}

#[test]
fn unknown_variable_is_refused_by_name() {
    let err = load(&[("GATEHOUSE_LISTEN__HTTTP", "127.0.0.1:1")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_LISTEN__HTTTP"), "{err}");
    assert!(err.contains("no such setting"), "{err}");
}

#[test]
fn database_url_scheme_is_checked_and_password_never_echoed() {
    let err = load(&[("GATEHOUSE_DATABASE__URL", "mysql://u:topsecret@h/db")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_DATABASE__URL"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    for raw in [
        "postgres://u:topsecret@h/db",
        "postgres://u:top@secret@h:5432/db",
        "postgres://u@h/db?sslmode=require&password=topsecret",
    ] {
        let url = DatabaseUrl::parse(raw).unwrap();
        let shown = format!("{url:?} {url}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("@h"), "keeps the host: {shown}");
    }
}

#[test]
fn short_secret_key_is_refused_and_digits_stay_a_string() {
    let err = load(&[("GATEHOUSE_SECRET_KEY", "short")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_SECRET_KEY"), "{err}");
    assert!(!err.contains("short"), "never echoes the secret: {err}");
    let digits = "1234567890".repeat(4);
    let s = load(&[("GATEHOUSE_SECRET_KEY", &digits)]).unwrap();
    assert_eq!(s.secret_key.unwrap().expose(), digits);
}

#[test]
fn tls_certificate_without_key_is_refused() {
    let err = load(&[("GATEHOUSE_TLS__CERTIFICATE", "/etc/cert.pem")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_TLS__KEY"), "{err}");
}

#[test]
fn file_settings_apply_and_environment_wins() {
    let mut file = tempfile_in_target();
    writeln!(
        file.1,
        "data_dir = \"/srv/gh\"\n[listen]\nhttp = \"127.0.0.1:7000\"\nhttps = \"127.0.0.1:7443\""
    )
    .unwrap();
    let path = file.0.to_str().unwrap().to_owned();
    let s = load(&[
        (CONFIG_FILE_VAR, &path),
        ("GATEHOUSE_LISTEN__HTTP", "127.0.0.1:8000"),
    ])
    .unwrap();
    assert_eq!(s.data_dir, PathBuf::from("/srv/gh"));
    assert_eq!(s.listen.http.to_string(), "127.0.0.1:8000");
    assert_eq!(s.listen.https.to_string(), "127.0.0.1:7443");
    std::fs::remove_file(&file.0).unwrap();
}

#[test]
fn bad_value_in_file_names_key_and_file() {
    let mut file = tempfile_in_target();
    writeln!(file.1, "[listen]\nmetrics = \"nowhere\"").unwrap();
    let path = file.0.to_str().unwrap().to_owned();
    let err = load(&[(CONFIG_FILE_VAR, &path)]).unwrap_err().to_string();
    assert!(err.contains("listen.metrics"), "{err}");
    assert!(err.contains(&path), "{err}");
    std::fs::remove_file(&file.0).unwrap();
}

#[test]
fn missing_or_broken_file_is_an_error_naming_it() {
    let err = load(&[(CONFIG_FILE_VAR, "/nonexistent/gatehouse.toml")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/gatehouse.toml"), "{err}");
    let mut file = tempfile_in_target();
    writeln!(file.1, "secret_key = \"unterminated-topsecret\n").unwrap();
    let path = file.0.to_str().unwrap().to_owned();
    let err = load(&[(CONFIG_FILE_VAR, &path)]).unwrap_err().to_string();
    assert!(err.starts_with("cannot read settings file"), "{err}");
    assert!(err.contains("line 1"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(!err.contains("topsecret"), "never echoes the file: {err}");
    std::fs::remove_file(&file.0).unwrap();
}

/// A fresh file under the system temp dir (the config crate takes no tempfile dependency).
fn tempfile_in_target() -> (PathBuf, std::fs::File) {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!(
        "gatehouse-settings-{}-{n}.toml",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}
