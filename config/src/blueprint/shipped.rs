//! The default blueprints shipped in `config/blueprints/default/`, embedded in the
//! binary. A file at the same relative path in the blueprints folder replaces one;
//! an empty file there disables it.

/// `(relative path, content)` of every shipped default, by path (the number in front
/// orders them: the brand finds the flows).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "default/00-system-bootstrap.yaml",
        include_str!("../../blueprints/default/00-system-bootstrap.yaml"),
    ),
    (
        "default/10-flow-default-authentication-flow.yaml",
        include_str!("../../blueprints/default/10-flow-default-authentication-flow.yaml"),
    ),
    (
        "default/10-flow-default-invalidation-flow.yaml",
        include_str!("../../blueprints/default/10-flow-default-invalidation-flow.yaml"),
    ),
    (
        "default/20-default-brand.yaml",
        include_str!("../../blueprints/default/20-default-brand.yaml"),
    ),
    (
        "default/30-flow-initial-setup.yaml",
        include_str!("../../blueprints/default/30-flow-initial-setup.yaml"),
    ),
    (
        "default/40-flow-default-provider-authorization-explicit-consent.yaml",
        include_str!(
            "../../blueprints/default/40-flow-default-provider-authorization-explicit-consent.yaml"
        ),
    ),
    (
        "default/40-flow-default-provider-authorization-implicit-consent.yaml",
        include_str!(
            "../../blueprints/default/40-flow-default-provider-authorization-implicit-consent.yaml"
        ),
    ),
    (
        "default/40-oauth2-scopes.yaml",
        include_str!("../../blueprints/default/40-oauth2-scopes.yaml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_defaults_folder_is_shipped_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/blueprints/default");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("default/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let shipped: Vec<&str> = SHIPPED.iter().map(|(path, _)| *path).collect();
        assert_eq!(on_disk, shipped);
        for (path, text) in SHIPPED {
            assert!(super::super::parse(path, text).unwrap().is_some(), "{path}");
        }
    }
}
