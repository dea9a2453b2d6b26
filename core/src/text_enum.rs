//! Enums stored and exchanged as fixed lowercase words (`internal`, `authentication`),
//! the words authentik uses where the concept is the same.

/// A word that names no variant of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}, expected one of: {expected}")]
pub struct UnknownVariant {
    /// The enum's name.
    pub kind: &'static str,
    /// What was given.
    pub value: String,
    /// The accepted words, comma-separated.
    pub expected: String,
}

/// Declares an enum whose variants are written as the given words, with `Display`,
/// `FromStr`, serde, and (with the `storage` feature) text storage.
macro_rules! text_enum {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::text_enum::UnknownVariant {
                        kind: stringify!($name),
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        #[cfg(feature = "storage")]
        $crate::storage::sql_text!($name);
    };
}
pub(crate) use text_enum;
