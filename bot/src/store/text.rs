//! Closed sets of values the database keeps as TEXT (a bead's status, an agent's role,
//! a rig's forge…). Each is an enum with one spelling per variant and one `FromStr`;
//! rows are parsed where they are read, so a value the code does not know is an error
//! naming its column, never a silent default.

use std::str::FromStr;

use rusqlite::Row;

/// A stored value no variant of its enum spells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What the value should have been: `agent status`, `bead type`.
    pub what: &'static str,
    pub value: String,
}

/// An enum stored as TEXT: `as_str`, `FromStr` (failing with [`UnknownValue`]),
/// `Display`, serialized and bound to SQL as its text.
macro_rules! string_enum {
    (
        $(#[$m:meta])* $name:ident ($what:literal) {
            $($(#[$vm:meta])* $variant:ident => $s:literal),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(into = "&'static str")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err($crate::store::UnknownValue { what: $what, value: s.to_string() }),
                }
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> Self { v.as_str() }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::Borrowed(
                    rusqlite::types::ValueRef::Text(self.as_str().as_bytes()),
                ))
            }
        }
    };
}
pub(crate) use string_enum;

/// Column `i` of `r` parsed as `T`; an unknown value names the column it came from.
pub(super) fn parse_column<T>(r: &Row<'_>, i: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = r.get(i)?;
    text.parse().map_err(|e| unknown(r, i, e))
}

/// [`parse_column`] for a column that may be NULL.
pub(super) fn parse_optional_column<T>(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = r.get(i)?;
    text.map(|t| t.parse().map_err(|e| unknown(r, i, e)))
        .transpose()
}

fn unknown(r: &Row<'_>, i: usize, e: impl std::fmt::Display) -> rusqlite::Error {
    let column = r.as_ref().column_name(i).unwrap_or("?");
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("column `{column}`: {e}").into(),
    )
}
