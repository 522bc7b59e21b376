//! Type inference shared by the file connectors (CSV, JSON, …).
//!
//! Two layers, each in its own module:
//! - [`classify`] — what one value looks like ([`Kind`]), from its text alone
//!   (no locale, no trimming), or from a typed scalar (a JSON number).
//! - [`column`] — [`ColumnStats`], the per-column accumulator that widens
//!   kinds as values arrive ([`Kind::widen`]), tracks nulls, the longest
//!   value and decimal digits, and ends in an [`Inferred`] column type (the
//!   SDK's portable data type plus a native spelling).
//! - [`json`] — what the JSON connectors (files, HTTP APIs) share: the JSON
//!   types a key held, numbers fed to the stats, a key's values described
//!   as a column.
//!
//! - [`parse`] and [`preview`] — for previews: values read back in their
//!   column's inferred type, and the columns and objects a request names.
//!
//! What is format-specific (CSV null markers, how JSON records are walked and
//! how their arrays are described) stays in the connectors.

pub mod classify;
pub mod column;
pub mod json;
mod kind;
pub mod names;
pub mod parse;
pub mod preview;

pub use classify::{MAX_DECIMAL_PRECISION, classify_text};
pub use column::{ColumnStats, Inferred};
pub use kind::Kind;
