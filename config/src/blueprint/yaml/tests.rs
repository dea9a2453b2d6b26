use super::*;

fn parse_ok(text: &str) -> Node {
    parse(text).unwrap().unwrap()
}

#[test]
fn scalars_resolve_with_the_core_schema_and_quotes_keep_strings() {
    let doc = parse_ok("a: 1\nb: true\nc: ~\nd: 1.5\ne: '1'\nf: hello\ng: 0x1f\nh: -3\ni: 1e3\n");
    let v = |k: &str| doc.get(k).unwrap().value.clone();
    assert_eq!(v("a"), NodeValue::Int(1));
    assert_eq!(v("b"), NodeValue::Bool(true));
    assert_eq!(v("c"), NodeValue::Null);
    assert_eq!(v("d"), NodeValue::Float(1.5));
    assert_eq!(v("e"), NodeValue::Str("1".into()));
    assert_eq!(v("f"), NodeValue::Str("hello".into()));
    assert_eq!(v("g"), NodeValue::Int(31));
    assert_eq!(v("h"), NodeValue::Int(-3));
    assert_eq!(v("i"), NodeValue::Float(1000.0));
}

#[test]
fn yes_no_and_versions_stay_strings() {
    // YAML 1.1's yes/no booleans and dotted versions are strings in 1.2.
    let doc = parse_ok("a: yes\nb: 1.2.3\nc: 2026-11-28\n");
    assert_eq!(doc.get("a").unwrap().value, NodeValue::Str("yes".into()));
    assert_eq!(doc.get("b").unwrap().value, NodeValue::Str("1.2.3".into()));
    assert_eq!(
        doc.get("c").unwrap().value,
        NodeValue::Str("2026-11-28".into())
    );
}

#[test]
fn nodes_know_their_line_column_and_local_tag() {
    let doc = parse_ok(
        "entries:\n  - model: x\n    attrs:\n      flow: !KeyOf login\n      q: !Find [m, [slug, s]]\n",
    );
    let entry = match &doc.get("entries").unwrap().value {
        NodeValue::Seq(items) => items.first().unwrap().clone(),
        other => panic!("{other:?}"),
    };
    let flow = entry.get("attrs").unwrap().get("flow").unwrap();
    assert_eq!(flow.tag.as_deref(), Some("KeyOf"));
    assert_eq!(flow.value, NodeValue::Str("login".into()));
    assert_eq!(
        flow.pos,
        Pos {
            line: 4,
            column: 13
        }
    );
    let find = entry.get("attrs").unwrap().get("q").unwrap();
    assert_eq!(find.tag.as_deref(), Some("Find"));
    assert!(matches!(&find.value, NodeValue::Seq(items) if items.len() == 2));
    assert_eq!(find.pos.line, 5);
}

#[test]
fn core_schema_tags_apply_and_are_not_kept() {
    let doc = parse_ok("a: !!str 42\nb: !!int '7'\n");
    assert_eq!(doc.get("a").unwrap().value, NodeValue::Str("42".into()));
    assert_eq!(doc.get("a").unwrap().tag, None);
    assert_eq!(doc.get("b").unwrap().value, NodeValue::Int(7));
    let err = parse("a: !!int nope\n").unwrap_err();
    assert_eq!(err.pos.line, 1);
}

#[test]
fn aliases_copy_their_anchor() {
    let doc = parse_ok("base: &b {x: 1}\ncopy: *b\n");
    assert_eq!(
        doc.get("copy").unwrap().value,
        doc.get("base").unwrap().value
    );
}

#[test]
fn syntax_errors_and_duplicate_keys_name_the_line() {
    let err = parse("a: 1\nb: [1, 2\n").unwrap_err();
    assert!(err.pos.line >= 2, "{err}");
    let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!(err.pos, Pos { line: 3, column: 1 });
    assert!(err.message.contains("duplicate key \"a\""), "{err}");
}

#[test]
fn empty_file_is_no_document_and_two_documents_are_refused() {
    assert_eq!(parse("").unwrap(), None);
    assert_eq!(parse("# only a comment\n").unwrap(), None);
    let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
    assert!(err.message.contains("one YAML document"), "{err}");
}
