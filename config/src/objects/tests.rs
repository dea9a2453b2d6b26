use serde_json::json;

use super::*;

#[test]
fn defaults_fill_in_and_normalized_settings_are_stable() {
    let kind = kind_named(STAGE_KINDS, "identification").unwrap();
    let normalized = kind.normalize(json!({"user_fields": ["email"]})).unwrap();
    assert_eq!(normalized["user_fields"], json!(["email"]));
    assert_eq!(normalized["pretend_user_exists"], json!(true));
    assert_eq!(kind.normalize(normalized.clone()).unwrap(), normalized);
}

#[test]
fn unknown_fields_and_wrong_types_name_the_field() {
    let kind = kind_named(STAGE_KINDS, "password").unwrap();
    let err = kind.normalize(json!({"retries": 3})).unwrap_err();
    assert!(err.message.contains("unknown field `retries`"), "{err}");
    let err = kind
        .normalize(json!({"failed_attempts_before_cancel": "many"}))
        .unwrap_err();
    assert_eq!(err.field(), "failed_attempts_before_cancel");
    let oauth = kind_named(PROVIDER_KINDS, "oauth2").unwrap();
    let err = oauth
        .normalize(json!({"redirect_uris": [{"url": "https://a/"}, {"matching_mode": "fuzzy", "url": "x"}]}))
        .unwrap_err();
    assert_eq!(err.field(), "redirect_uris");
    assert!(err.path.contains("[1]"), "{err}");
}

#[test]
fn durations_parse_authentik_form_and_keep_their_text() {
    let d = TimeDelta::parse("hours=1;minutes=30").unwrap();
    assert_eq!(d.duration().as_secs(), 5400);
    assert_eq!(d.as_str(), "hours=1;minutes=30");
    assert_eq!(
        TimeDelta::parse("days=0.5").unwrap().duration().as_secs(),
        43_200
    );
    for bad in ["hours", "hours=x", "fortnights=1", "seconds=-1"] {
        assert!(TimeDelta::parse(bad).is_err(), "{bad}");
    }
    let kind = kind_named(STAGE_KINDS, "user_login").unwrap();
    let err = kind
        .normalize(json!({"session_duration": "hours=one"}))
        .unwrap_err();
    assert_eq!(err.field(), "session_duration");
}

#[test]
fn model_names_are_unique_and_follow_one_pattern() {
    let mut seen = std::collections::BTreeSet::new();
    for kind in STAGE_KINDS
        .iter()
        .chain(POLICY_KINDS)
        .chain(PROVIDER_KINDS)
        .chain(PROPERTY_MAPPING_KINDS)
    {
        assert!(kind.model.starts_with("gatehouse_"), "{}", kind.model);
        assert!(seen.insert(kind.model), "{} twice", kind.model);
    }
}
