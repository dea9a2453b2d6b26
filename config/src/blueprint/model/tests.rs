use super::*;

const SAMPLE: &str = r#"version: 1
metadata:
  name: Gitea
  labels:
    blueprints.gatehouse.dev/instantiate: "true"
context:
  domain: example.org
entries:
  - model: gatehouse_core.group
    id: admins
    identifiers:
      name: Admins
    attrs:
      is_superuser: true
  - model: gatehouse_core.application
    state: created
    identifiers:
      slug: gitea
    attrs:
      name: Gitea
      launch_url: !Format ["https://git.%s/", !Context domain]
      group: !KeyOf admins
      flow: !Find [gatehouse_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      secret: !Env [GITEA_SECRET, changeme]
      meta: !If [!Context debug, verbose, quiet]
    conditions:
      - !Condition [AND, true, !Context enabled]
"#;

fn fail(text: &str) -> BlueprintError {
    parse("bp.yaml", text).unwrap_err()
}

#[test]
fn sample_parses_with_every_tag() {
    let bp = parse("gitea.yaml", SAMPLE).unwrap().unwrap();
    assert_eq!(bp.metadata.name, "Gitea");
    assert_eq!(
        bp.metadata.labels["blueprints.gatehouse.dev/instantiate"],
        "true"
    );
    assert_eq!(
        bp.context["domain"].kind,
        ValueKind::Str("example.org".into())
    );
    assert_eq!(bp.entries.len(), 2);
    let group = &bp.entries[0];
    assert_eq!((group.index, group.id.as_deref()), (0, Some("admins")));
    assert_eq!(group.state, EntryState::Present);
    assert_eq!(group.pos.line, 9);
    let app = &bp.entries[1];
    assert_eq!(app.state, EntryState::Created);
    let attr = |name: &str| &app.attrs.iter().find(|(k, _)| k == name).unwrap().1;
    assert_eq!(attr("group").kind, ValueKind::KeyOf("admins".into()));
    assert!(matches!(&attr("launch_url").kind,
        ValueKind::Format { format, args } if format == "https://git.%s/"
            && matches!(&args[0].kind, ValueKind::Context { key, default: None } if key == "domain")));
    assert!(matches!(&attr("flow").kind,
        ValueKind::Find { model, query } if model == "gatehouse_flows.flow" && query.len() == 1));
    assert!(matches!(&attr("secret").kind,
        ValueKind::Env { var, default: Some(d) } if var == "GITEA_SECRET"
            && d.kind == ValueKind::Str("changeme".into())));
    assert!(matches!(&attr("meta").kind, ValueKind::If { .. }));
    assert!(matches!(&app.conditions[0].kind,
        ValueKind::Condition { op: ConditionOp::And, args } if args.len() == 2));
    assert_eq!(attr("secret").pos.line, 24);
}

#[test]
fn empty_file_disables_rather_than_fails() {
    assert_eq!(parse("empty.yaml", "").unwrap(), None);
}

#[test]
fn errors_name_file_line_column_and_entry() {
    let err = fail("version: 1\nentries:\n  - model: x\n    attrs:\n      a: !Nope 1\n");
    assert_eq!(err.file, "bp.yaml");
    assert_eq!((err.pos.line, err.entry), (5, Some(0)));
    assert!(err.message.contains("unknown tag !Nope"), "{err}");
    assert!(err.to_string().starts_with("bp.yaml:5:"), "{err}");
    assert!(err.to_string().contains("entry 0: "), "{err}");
}

#[test]
fn unknown_fields_and_wrong_types_are_refused() {
    let err = fail("version: 1\nentries:\n  - model: x\n    atrs: {a: 1}\n");
    assert!(err.message.contains("unknown field `atrs`"), "{err}");
    assert_eq!(err.pos.line, 4);
    let err = fail("version: 1\nentries: {a: 1}\n");
    assert!(err.message.contains("`entries` must be a list"), "{err}");
    let err = fail("version: 1\nentries:\n  - model: x\n    state: gone\n    attrs: {a: 1}\n");
    assert!(err.message.contains("unknown state"), "{err}");
    let err = fail("version: 2\n");
    assert!(err.message.contains("unsupported version"), "{err}");
    let err = fail("entries: []\n");
    assert!(err.message.contains("missing `version"), "{err}");
}

#[test]
fn tag_arity_is_checked() {
    for (text, needle) in [
        ("!If [a, b]", "!If takes exactly"),
        ("!Find [m]", "at least one"),
        ("!Find [m, [only-field]]", "[field, value] pair"),
        ("!Condition [MAYBE, true]", "unknown !Condition operator"),
        ("!Condition [AND]", "at least one value"),
        ("!KeyOf [a]", "!KeyOf takes an entry id"),
        ("!Context [a, b, c]", "name or [name, default]"),
    ] {
        let err = fail(&format!(
            "version: 1\nentries:\n  - model: x\n    attrs:\n      v: {text}\n"
        ));
        assert!(err.message.contains(needle), "{text}: {err}");
        assert_eq!(err.pos.line, 5, "{text}");
    }
}

#[test]
fn duplicate_entry_ids_are_refused() {
    let err = fail(
        "version: 1\nentries:\n  - {model: x, id: a, attrs: {n: 1}}\n  - {model: y, id: a, attrs: {n: 2}}\n",
    );
    assert_eq!(err.entry, Some(1));
    assert!(err.message.contains("already used by entry 0"), "{err}");
}
