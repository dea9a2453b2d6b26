//! authentik's duration strings: `hours=1;minutes=30`, the form its validity settings
//! (token lifetimes, session durations) are written in.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as `unit=amount` pairs joined by `;` (units: weeks, days, hours,
/// minutes, seconds, milliseconds). Keeps the text as written so that a blueprint
/// and its export read the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeDelta {
    text: String,
    duration: Duration,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (expected e.g. \"hours=1;minutes=30\")")]
pub struct DurationError {
    text: String,
    reason: String,
}

impl TimeDelta {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let fail = |reason: String| DurationError {
            text: text.to_owned(),
            reason,
        };
        let mut total = Duration::ZERO;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (unit, amount) = part
                .split_once('=')
                .ok_or_else(|| fail(format!("{part:?} is not unit=amount")))?;
            let amount: f64 = amount
                .trim()
                .parse()
                .map_err(|_| fail(format!("{:?} is not a number", amount.trim())))?;
            let seconds = match unit.trim() {
                "weeks" => 604_800.0,
                "days" => 86_400.0,
                "hours" => 3_600.0,
                "minutes" => 60.0,
                "seconds" => 1.0,
                "milliseconds" => 0.001,
                other => return Err(fail(format!("unknown unit {other:?}"))),
            };
            let part = Duration::try_from_secs_f64(amount * seconds)
                .map_err(|_| fail(format!("{amount} {unit} is out of range")))?;
            total = total
                .checked_add(part)
                .ok_or_else(|| fail("too long".into()))?;
        }
        Ok(Self {
            text: text.to_owned(),
            duration: total,
        })
    }

    /// The length of time.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for TimeDelta {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for TimeDelta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A default for serde: `TimeDelta::parse` of a constant that is known to parse.
pub(super) fn constant(text: &str) -> TimeDelta {
    TimeDelta::parse(text).unwrap_or(TimeDelta {
        text: text.to_owned(),
        duration: Duration::ZERO,
    })
}
