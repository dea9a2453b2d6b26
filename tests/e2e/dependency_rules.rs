//! The design's dependency arrows, checked on the real dependency graph: the engine
//! links no HTTP stack, and the outpost links no database driver.

use std::process::Command;

fn normal_deps(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--edges", "normal", "--prefix", "none", "--offline"])
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn crate_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

#[test]
fn core_links_no_http_server_or_proxy_crate() {
    let tree = normal_deps(&["-p", "gatehouse-core"]);
    let names = crate_names(&tree);
    assert!(names.contains(&"sqlx"), "the tree is real: {tree}");
    for banned in [
        "axum",
        "hyper",
        "pingora",
        "tokio-tungstenite",
        "tower-http",
    ] {
        assert!(
            !names.contains(&banned),
            "gatehouse-core depends on {banned}"
        );
    }
}

#[test]
fn outpost_links_no_database_driver() {
    let tree = normal_deps(&["-p", "gatehouse-outpost"]);
    let names = crate_names(&tree);
    assert!(
        names.contains(&"gatehouse-core"),
        "the tree is real: {tree}"
    );
    for banned in ["sqlx", "sqlx-core", "libsqlite3-sys", "sqlx-postgres"] {
        assert!(
            !names.contains(&banned),
            "gatehouse-outpost depends on {banned}"
        );
    }
}
