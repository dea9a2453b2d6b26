//! Where settings come from besides the file: the process environment, read through a
//! small trait so tests can hand in a map instead of mutating the real environment.

use std::collections::BTreeMap;

/// A source of environment variables.
pub trait Environment {
    /// Every variable as a `(name, value)` pair. Variables whose name or value is not
    /// UTF-8 are left out: no setting can be spelled that way.
    fn vars(&self) -> Vec<(String, String)>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }
}

impl Environment for BTreeMap<String, String> {
    fn vars(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl<const N: usize> Environment for [(&str, &str); N] {
    fn vars(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}
