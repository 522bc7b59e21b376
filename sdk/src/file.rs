//! The one file a file connector reads (CSV, JSON, Excel, Parquet): opening
//! it with the right error kinds, and the names users see for it.
//!
//! The host rewrites `file_path` to the path inside the guest (`/data/…`),
//! which means nothing to the user: messages name the file by
//! [`file_name`], tables take [`file_stem`].
//!
//! A connector whose connection is nothing but its checked config
//! implements [`FileSource`] and exports [`FileConnector`] (see [`source`]).

pub mod source;

pub use source::{FileConnection, FileConnector, FileSource, SCHEMA, discover_one_table, open_step};

use std::fs::File;
use std::path::Path;

use crate::{ConnectorError, file_error};

/// The file's name without its folders, for messages (`/data/a.csv` → `a.csv`).
pub fn file_name(path: &str) -> &str {
    Path::new(path).file_name().and_then(|name| name.to_str()).unwrap_or(path)
}

/// The file's (or folder's) name without its extension, the usual table
/// name (`/data/orders.2024.csv` → `orders.2024`); `file` when the path has none.
pub fn file_stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .unwrap_or("file")
        .to_owned()
}

/// What a file source reads: the config's `file_path` (rewritten by the
/// host to the path inside the guest) and, for sources that let the user
/// name it, the table's name (`table_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    pub path: String,
    pub table_name: Option<String>,
}

impl FileTarget {
    /// Checks the config's fields: `file_path` must not be empty,
    /// `table_name` not empty when set; both are `config` errors.
    pub fn check(file_path: String, table_name: Option<String>) -> Result<Self, ConnectorError> {
        crate::config::non_empty("file_path", &file_path)?;
        crate::config::non_empty_if_set("table_name", table_name.as_deref())?;
        Ok(Self { path: file_path, table_name })
    }

    /// The file's name, for messages ([`file_name`]).
    pub fn file_name(&self) -> &str {
        file_name(&self.path)
    }

    /// The table's name: `table_name`, else the file's stem ([`file_stem`]).
    pub fn table_name(&self) -> String {
        self.table_name.clone().unwrap_or_else(|| file_stem(&self.path))
    }
}

/// Opens a regular file and returns it with its length. A missing file is
/// `not_found`, a denied one `permission`, a directory or a device `config`
/// (`file_path` must name a file); messages name the file by [`file_name`].
pub fn open(path: &str) -> Result<(File, u64), ConnectorError> {
    let name = file_name(path);
    let file = File::open(path).map_err(|error| file_error(&error, &format!("open {name}")))?;
    let metadata = file.metadata().map_err(|error| file_error(&error, &format!("stat {name}")))?;
    if metadata.is_dir() {
        return Err(ConnectorError::config("`file_path` names a directory, not a file"));
    }
    if !metadata.is_file() {
        return Err(ConnectorError::config(format!("{name} is not a regular file")));
    }
    Ok((file, metadata.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn names_drop_the_guest_folders() {
        assert_eq!(file_name("/data/a.csv"), "a.csv");
        assert_eq!(file_name("/"), "/");
        assert_eq!(file_stem("/data/orders.2024.csv"), "orders.2024");
        assert_eq!(file_stem("/data/plain"), "plain");
        assert_eq!(file_stem("/"), "file");
    }

    #[test]
    fn targets_check_their_fields_and_name_the_table() {
        let named = FileTarget::check("/data/a.csv".into(), Some("t".into())).unwrap();
        assert_eq!((named.file_name(), named.table_name().as_str()), ("a.csv", "t"));
        let unnamed = FileTarget::check("/data/a.csv".into(), None).unwrap();
        assert_eq!(unnamed.table_name(), "a");
        let error = FileTarget::check(" ".into(), None).unwrap_err();
        assert_eq!((error.kind, error.message.as_str()), (ErrorKind::Config, "`file_path` must not be empty"));
        let error = FileTarget::check("a".into(), Some(String::new())).unwrap_err();
        assert_eq!(error.message, "`table_name` must not be empty");
    }

    #[test]
    fn open_returns_the_length_and_kind_correct_errors() {
        let dir = std::env::temp_dir().join(format!("inlet-sdk-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.txt");
        std::fs::write(&path, b"12345").unwrap();
        let (_, size) = open(path.to_str().unwrap()).unwrap();
        assert_eq!(size, 5);
        let missing = open(dir.join("none.txt").to_str().unwrap()).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NotFound);
        assert!(missing.message.starts_with("open none.txt: "), "{}", missing.message);
        let folder = open(dir.to_str().unwrap()).unwrap_err();
        assert_eq!(folder.kind, ErrorKind::Config);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
