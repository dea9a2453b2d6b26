use super::super::parse;
use super::*;

const SAMPLE: &str = r#"version: 1
metadata:
  name: "Sample: all shapes"
  labels:
    team: ops
context:
  domain: example.org
  "Odd key": [1, 2.5, null, true]
entries:
  - model: gatehouse_core.group
    id: admins
    identifiers:
      name: Admins
    attrs:
      attributes:
        nested: {a: "x\ty", "b c": []}
        empty: {}
        "true": 1
  - model: gatehouse_core.user
    state: created
    identifiers:
      username: !Format ["%s-admin", !Context domain]
    attrs:
      groups:
        - !KeyOf admins
        - !Find [gatehouse_core.group, [name, Users], [is_superuser, false]]
      email: !Env [ADMIN_EMAIL, "root@example.org"]
      is_active: !If [!Context [active, true], true, false]
      list_of_maps:
        - {url: "https://a/", mode: strict}
        - url: "https://b/"
          mode: regex
      pem: |
        -----BEGIN CERTIFICATE-----
        MIIB

        abc
        -----END CERTIFICATE-----
      no_final_newline: "line one\nline two"
      trailing_space: "a \nb"
      quote: "say \"hi\" \\ ok"
    conditions:
      - !Condition [XOR, !Env HOME, false]
  - model: gatehouse_core.group
    state: absent
    identifiers: {name: Old}
"#;

#[test]
fn emitted_yaml_parses_back_to_the_same_blueprint() {
    let parsed = parse("s.yaml", SAMPLE).unwrap().unwrap();
    let text = to_yaml(&parsed);
    let again = parse("emitted.yaml", &text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .unwrap();
    // Positions differ; the emitted text is a fixed point and values are equal.
    assert_eq!(to_yaml(&again), text);
    assert_eq!(again.entries.len(), parsed.entries.len());
    for (a, b) in again.entries.iter().zip(&parsed.entries) {
        assert_eq!(strip(&a.attrs), strip(&b.attrs), "{text}");
        assert_eq!(strip(&a.identifiers), strip(&b.identifiers));
        assert_eq!(a.state, b.state);
        assert_eq!(a.id, b.id);
    }
    assert_eq!(again.metadata, parsed.metadata);
    assert!(text.contains("      pem: |\n        -----BEGIN CERTIFICATE-----\n        MIIB\n\n"));
}

/// Values without positions, for comparison.
fn strip(pairs: &[(String, Value)]) -> String {
    let mut text = String::new();
    for (k, v) in pairs {
        text.push_str(k);
        text.push('=');
        text.push_str(&inline(v));
        text.push('\n');
    }
    text
}

#[test]
fn infinities_and_odd_model_names_round_trip() {
    let text = "version: 1\nentries:\n  - model: \"odd model #1\"\n    identifiers: {a: .inf, b: -.inf, c: 1e999}\n";
    let parsed = parse("s.yaml", text).unwrap().unwrap();
    let emitted = to_yaml(&parsed);
    let again = parse("e.yaml", &emitted).unwrap().unwrap();
    assert_eq!(again.entries[0].model, "odd model #1");
    assert_eq!(
        strip(&again.entries[0].identifiers),
        strip(&parsed.entries[0].identifiers)
    );
    assert!(
        emitted.contains("a: .inf\n") && emitted.contains("b: -.inf\n"),
        "{emitted}"
    );
}
