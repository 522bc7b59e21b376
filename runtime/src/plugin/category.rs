//! The product's categories of data source types. Every type declares one in
//! its manifest; the API groups and filters types (and data sources) by it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Relational databases that speak SQL.
    Sql,
    /// Key-value, document, wide-column and search stores.
    Nosql,
    /// Cloud data warehouses.
    Warehouse,
    /// Files and table formats, local or in object stores.
    File,
    /// Message brokers and event streams.
    Streaming,
    /// HTTP APIs.
    Api,
    /// Anything else a third party adds.
    Custom,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Sql,
        Category::Nosql,
        Category::Warehouse,
        Category::File,
        Category::Streaming,
        Category::Api,
        Category::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Sql => "sql",
            Category::Nosql => "nosql",
            Category::Warehouse => "warehouse",
            Category::File => "file",
            Category::Streaming => "streaming",
            Category::Api => "api",
            Category::Custom => "custom",
        }
    }

    /// "sql, nosql, …", for error messages.
    pub fn list() -> String {
        Self::ALL.map(Category::as_str).join(", ")
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not one of the categories.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category `{0}`: use one of {list}", list = Category::list())]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == text).ok_or_else(|| UnknownCategory(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_parses_from_its_name() {
        for category in Category::ALL {
            assert_eq!(category.as_str().parse::<Category>(), Ok(category));
            assert_eq!(serde_json::to_value(category).unwrap(), serde_json::json!(category.as_str()));
        }
        let error = "database".parse::<Category>().unwrap_err();
        assert!(error.to_string().contains("sql, nosql, warehouse, file, streaming, api, custom"), "{error}");
    }
}
