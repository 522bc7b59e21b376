//! The SQL builder for queries whose shape depends on input (list filters,
//! paging): numbered placeholders with values bound in order, so that input
//! never becomes SQL text; the same text runs on SQLite and PostgreSQL.

use sqlx::any::AnyArguments;
use sqlx::query::{QueryAs, QueryScalar};
use sqlx::{Any, Arguments, FromRow};

use super::DbError;

/// Builds SQL with numbered placeholders, binding values in order.
#[derive(Default)]
pub(super) struct Sql {
    text: String,
    binds: Vec<Bind>,
}

pub(super) enum Bind {
    Text(String),
    Int(i64),
}

impl Sql {
    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(super) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.text.push_str(&format!("${}", self.binds.len()));
        self
    }

    pub(super) fn bind_text(&mut self, value: &str) -> &mut Self {
        self.bind(Bind::Text(value.to_owned()))
    }

    pub(super) fn bind_int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    fn arguments(&self) -> Result<AnyArguments<'_>, DbError> {
        let mut args = AnyArguments::default();
        for bind in &self.binds {
            let added = match bind {
                Bind::Text(text) => args.add(text.as_str()),
                Bind::Int(value) => args.add(*value),
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }

    pub(super) fn bind_list(&mut self, values: &[String]) -> &mut Self {
        self.push("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind_text(value);
        }
        self.push(")")
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub(super) fn query_as_with<'q, T>(sql: &'q Sql) -> Result<QueryAs<'q, Any, T, AnyArguments<'q>>, DbError>
where
    T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
{
    Ok(sqlx::query_as_with(&sql.text, sql.arguments()?))
}

pub(super) fn scalar_with(sql: &Sql) -> Result<QueryScalar<'_, Any, i64, AnyArguments<'_>>, DbError> {
    Ok(sqlx::query_scalar_with(&sql.text, sql.arguments()?))
}
