//! The kinds a value or a column can have, and how they widen.

/// What one value (or a whole column) looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    /// An exact number with a decimal point (or an integer beyond `i64`);
    /// the precision and scale of the column come from
    /// [`ColumnStats`](crate::ColumnStats), not from here.
    Decimal,
    Float64,
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    String,
}

impl Kind {
    /// The narrowest kind that holds values of both kinds.
    pub fn widen(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Int64, Decimal) | (Decimal, Int64) => Decimal,
            (Int64 | Decimal, Float64) | (Float64, Int64 | Decimal) => Float64,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            _ => String,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_follows_the_rules() {
        use Kind::*;
        assert_eq!(Int64.widen(Decimal), Decimal);
        assert_eq!(Decimal.widen(Int64), Decimal);
        assert_eq!(Int64.widen(Float64), Float64);
        assert_eq!(Float64.widen(Decimal), Float64);
        assert_eq!(Date.widen(Timestamp), Timestamp);
        assert_eq!(Timestamp.widen(Date), Timestamp);
        assert_eq!(Timestamp.widen(TimestampTz), String);
        assert_eq!(Date.widen(TimestampTz), String);
        assert_eq!(Boolean.widen(Int64), String);
        assert_eq!(Date.widen(Int64), String);
        assert_eq!(String.widen(Int64), String);
    }
}
