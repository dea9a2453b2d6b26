//! A point in time as Gatehouse stores it: UTC, microsecond precision.
//!
//! Why not `OffsetDateTime` directly: sqlx writes it to SQLite as RFC 3339 with a
//! variable number of fractional digits, and `...:00Z` sorts after `...:00.5Z` as text,
//! so `expires_at > $1` would be wrong. `Timestamp` writes a fixed-width form that
//! sorts as time does, and keeps PostgreSQL's native `TIMESTAMPTZ`. Truncating to
//! microseconds makes a value read back equal to the value written on both backends.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset};

/// A UTC instant with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Timestamp(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

impl<'de> Deserialize<'de> for Timestamp {
    /// Through [`Timestamp::from_datetime`], so a deserialized value is UTC and
    /// truncated like every other.
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        time::serde::rfc3339::deserialize(de).map(Self::from_datetime)
    }
}

impl Timestamp {
    /// 1970-01-01T00:00:00Z: before anything stored.
    pub const EPOCH: Self = Self(OffsetDateTime::UNIX_EPOCH);

    /// Converts to UTC and drops sub-microsecond precision.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        // An instant whose UTC date falls outside year ±9999 (one second past the end
        // at an offset west of UTC) has no UTC form: it saturates, never panics.
        let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or_else(|| {
            if t.year() > 0 {
                time::PrimitiveDateTime::MAX.assume_utc()
            } else {
                time::PrimitiveDateTime::MIN.assume_utc()
            }
        });
        let micros = t.microsecond();
        // Replacing the nanosecond with a whole number of microseconds cannot fail:
        // it is below 1_000_000_000 by construction.
        let t = t.replace_nanosecond(micros * 1_000).unwrap_or(t);
        Self(t)
    }

    /// The instant as a `time` value.
    pub fn as_datetime(self) -> OffsetDateTime {
        self.0
    }

    /// Seconds since the Unix epoch.
    pub fn unix_timestamp(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The fixed-width text form used in SQLite: `2026-11-28T23:51:30.000000Z`.
    pub fn to_sortable_text(self) -> String {
        let t = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self::from_datetime(t)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Self::from_datetime(self.0 + rhs)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        Self::from_datetime(self.0 - rhs)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sortable_text())
    }
}

#[cfg(feature = "storage")]
mod sql {
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
    use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
    use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    use super::Timestamp;

    impl Type<Sqlite> for Timestamp {
        fn type_info() -> SqliteTypeInfo {
            <String as Type<Sqlite>>::type_info()
        }
        fn compatible(ty: &SqliteTypeInfo) -> bool {
            <String as Type<Sqlite>>::compatible(ty)
        }
    }

    impl Encode<'_, Sqlite> for Timestamp {
        fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
            <String as Encode<Sqlite>>::encode(self.to_sortable_text(), buf)
        }
    }

    impl<'r> Decode<'r, Sqlite> for Timestamp {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <String as Decode<Sqlite>>::decode(value)?;
            Ok(Timestamp::from_datetime(OffsetDateTime::parse(
                &text, &Rfc3339,
            )?))
        }
    }

    impl Type<Postgres> for Timestamp {
        fn type_info() -> PgTypeInfo {
            <OffsetDateTime as Type<Postgres>>::type_info()
        }
    }

    impl Encode<'_, Postgres> for Timestamp {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            <OffsetDateTime as Encode<Postgres>>::encode(self.0, buf)
        }
    }

    impl<'r> Decode<'r, Postgres> for Timestamp {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            Ok(Timestamp::from_datetime(<OffsetDateTime as Decode<
                Postgres,
            >>::decode(value)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn text_form_is_fixed_width_and_sorts_like_time() {
        let a = Timestamp::from(datetime!(2026-01-01 00:00:00 UTC));
        let b = Timestamp::from(datetime!(2026-01-01 00:00:00.5 UTC));
        assert_eq!(a.to_sortable_text(), "2026-01-01T00:00:00.000000Z");
        assert!(a.to_sortable_text() < b.to_sortable_text());
    }

    #[test]
    fn deserialized_values_are_utc_too() {
        let t: Timestamp = serde_json::from_str("\"2026-01-01T02:00:00.5+02:00\"").unwrap();
        assert_eq!(t.to_sortable_text(), "2026-01-01T00:00:00.500000Z");
    }

    #[test]
    fn offsets_become_utc_and_nanoseconds_are_dropped() {
        let t = Timestamp::from(datetime!(2026-01-01 02:00:00.123456789 +02:00));
        assert_eq!(t.to_sortable_text(), "2026-01-01T00:00:00.123456Z");
    }

    #[test]
    fn an_instant_without_a_utc_form_saturates_instead_of_panicking() {
        let late: Timestamp = serde_json::from_str("\"9999-12-31T23:59:59-01:00\"").unwrap();
        assert_eq!(late.as_datetime().year(), 9999);
        let early: Timestamp =
            serde_json::from_str("\"-9999-01-01T00:00:00+01:00\"").unwrap_or(Timestamp::EPOCH);
        assert!(early <= Timestamp::EPOCH);
    }
}
