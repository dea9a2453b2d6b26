//! What the metrics listener says about connected outposts: how many, the config
//! version each acknowledged, and how long ago each was last heard from.

use std::time::Duration;

/// One connection's entries in the metrics; removing it counts the outpost out.
#[derive(Debug)]
pub struct Tracked {
    name: String,
    version: Option<String>,
}

impl Tracked {
    /// Counts a connected outpost in.
    pub fn connect(name: &str) -> Self {
        metrics::gauge!("gatehouse_outposts_connected").increment(1.0);
        metrics::gauge!("gatehouse_outpost_last_message_age_seconds", "outpost" => name.to_owned())
            .set(0.0);
        Self {
            name: name.to_owned(),
            version: None,
        }
    }

    /// The outpost said something.
    pub fn heard(&self) {
        self.age(Duration::ZERO);
    }

    /// Seconds since the outpost last said something.
    pub fn age(&self, age: Duration) {
        metrics::gauge!("gatehouse_outpost_last_message_age_seconds", "outpost" => self.name.clone())
            .set(age.as_secs_f64());
    }

    /// The outpost enforces config `version` (the previous one's series drops to 0).
    pub fn acknowledged(&mut self, version: &str) {
        if self.version.as_deref() == Some(version) {
            return;
        }
        if let Some(old) = self.version.take() {
            metrics::gauge!("gatehouse_outpost_config_version", "outpost" => self.name.clone(), "version" => old)
                .set(0.0);
        }
        metrics::gauge!("gatehouse_outpost_config_version", "outpost" => self.name.clone(), "version" => version.to_owned())
            .set(1.0);
        self.version = Some(version.to_owned());
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        metrics::gauge!("gatehouse_outposts_connected").decrement(1.0);
        if let Some(old) = self.version.take() {
            metrics::gauge!("gatehouse_outpost_config_version", "outpost" => self.name.clone(), "version" => old)
                .set(0.0);
        }
    }
}
