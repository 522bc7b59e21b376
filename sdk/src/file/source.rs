//! A connector over one file (or a folder read as one source): its
//! connection holds nothing but the checked config and opens the file again
//! for every call, so that a pooled connection sees the file as it is now.
//!
//! The connector implements [`FileSource`] on its config and exports
//! `FileConnector<Config>`; the SDK supplies the [`Connector`] and
//! [`Connection`] around it.
//!
//! ```
//! use inlet_sdk::config::ConnectorConfig;
//! use inlet_sdk::file::{self, FileConnector, FileSource};
//! use inlet_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Raw { file_path: String }
//!
//! struct Config { target: file::FileTarget }
//!
//! impl ConnectorConfig for Config {
//!     type Raw = Raw;
//!     fn check(raw: Raw) -> Result<Self, ConnectorError> {
//!         Ok(Config { target: file::FileTarget::check(raw.file_path, None)? })
//!     }
//! }
//!
//! impl FileSource for Config {
//!     fn target(&self) -> &file::FileTarget {
//!         &self.target
//!     }
//!     fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError> {
//!         file::open_step(steps, || file::open(&self.target.path)).map(drop)
//!     }
//!     fn test(&self, _: &mut Steps) -> Result<Option<String>, ConnectorError> {
//!         Ok(None)
//!     }
//!     fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
//!         file::discover_one_table(request, self.table_name(), || {
//!             Ok(TableBuilder::new(self.table_name(), ObjectKind::File).build())
//!         })
//!     }
//! }
//!
//! pub type Text = FileConnector<Config>;
//! inlet_sdk::export_connector!(Text);
//! ```

use std::marker::PhantomData;

use super::FileTarget;
use crate::config::ConnectorConfig;
use crate::paging::page_one_table;
use crate::{
    ConnectRequest, Connection, Connector, ConnectorError, DiscoverPage, DiscoverRequest, ObjectKind, PreviewRequest,
    Rows, Steps, Table,
};

/// The one schema a file source's catalog has.
pub const SCHEMA: &str = "default";

/// A file source's checked config, and what it does at each call.
pub trait FileSource: ConnectorConfig + 'static {
    /// The file (or folder) the config names.
    fn target(&self) -> &FileTarget;

    /// The file's name, for messages: the guest path means nothing to the user.
    fn file_name(&self) -> &str {
        self.target().file_name()
    }

    /// The name of the table the file is ([`FileTarget::table_name`]).
    fn table_name(&self) -> String {
        self.target().table_name()
    }

    /// The connect steps after the config is checked (open the file, read
    /// what proves it is the kind of file expected), each timed with
    /// `steps.run(...)`.
    fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError>;

    /// The test steps. A file has no server: the version is usually `None`.
    fn test(&self, steps: &mut Steps) -> Result<Option<String>, ConnectorError>;

    /// One page of the catalog (see [`discover_one_table`]).
    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError>;

    /// The first rows of one object `discover` named ([`Connection::preview`]).
    /// By default: `unsupported`.
    fn preview(&self, request: &PreviewRequest) -> Result<Box<dyn Rows<FileConnection<Self>>>, ConnectorError>
    where
        Self: Sized,
    {
        let _ = request;
        Err(ConnectorError::unsupported("this connector does not preview data yet"))
    }
}

/// The [`Connector`] of a file source: parses and checks the config (a bad
/// config fails before any step), then runs [`FileSource::connect`].
pub struct FileConnector<C>(PhantomData<C>);

/// The [`Connection`] of a file source: its checked config.
pub struct FileConnection<C>(C);

impl<C> FileConnection<C> {
    pub fn config(&self) -> &C {
        &self.0
    }
}

impl<C: FileSource> Connector for FileConnector<C> {
    type Connection = FileConnection<C>;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<FileConnection<C>, ConnectorError> {
        let config = C::from_request(request)?;
        config.connect(steps)?;
        Ok(FileConnection(config))
    }
}

impl<C: FileSource> Connection for FileConnection<C> {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        self.0.test(steps)
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        self.0.discover(request)
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        self.0.preview(request)
    }
}

/// The `open file` connect step: `open` opens the file and tells its
/// length, which the step's message gives.
pub fn open_step<F>(
    steps: &mut Steps,
    open: impl FnOnce() -> Result<(F, u64), ConnectorError>,
) -> Result<F, ConnectorError> {
    let (file, size) = steps.run("open file", open)?;
    steps.annotate_last(format!("{size} bytes"));
    Ok(file)
}

/// Pages a file source that is one table of kind `file`, `name` in
/// [`SCHEMA`]: only a page that holds it runs `describe` (a pass over the
/// file, say).
pub fn discover_one_table(
    request: &DiscoverRequest,
    name: String,
    describe: impl FnOnce() -> Result<Table, ConnectorError>,
) -> Result<DiscoverPage, ConnectorError> {
    page_one_table(request, SCHEMA, name, ObjectKind::File, describe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::schema::TableBuilder;
    use crate::testing::{connect_request, discover_request};

    #[derive(serde::Deserialize)]
    struct Raw {
        file_path: String,
        table_name: Option<String>,
    }

    struct Config {
        target: FileTarget,
    }

    impl ConnectorConfig for Config {
        type Raw = Raw;
        fn check(raw: Raw) -> Result<Self, ConnectorError> {
            Ok(Self { target: FileTarget::check(raw.file_path, raw.table_name)? })
        }
    }

    impl FileSource for Config {
        fn target(&self) -> &FileTarget {
            &self.target
        }

        fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError> {
            let missing = self.target.path == "missing";
            open_step(steps, || if missing { Err(ConnectorError::not_found("gone")) } else { Ok(((), 3)) })
        }

        fn test(&self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
            steps.run("read", || Ok(None))
        }

        fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
            discover_one_table(request, self.table_name(), || {
                Ok(TableBuilder::new(self.table_name(), ObjectKind::File).build())
            })
        }
    }

    type Source = FileConnector<Config>;

    #[test]
    fn connect_checks_the_config_then_runs_the_steps() {
        let mut steps = Steps::new();
        let mut connection =
            Source::connect(&connect_request("f", &serde_json::json!({"file_path": "/data/t.csv"})), &mut steps)
                .ok()
                .unwrap();
        assert_eq!(steps.as_slice()[0].name, "open file");
        assert_eq!(steps.as_slice()[0].message.as_deref(), Some("3 bytes"));
        assert_eq!(connection.config().file_name(), "t.csv");
        assert_eq!(connection.config().table_name(), "t");
        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap(), None);
        assert_eq!(steps.as_slice()[0].name, "read");

        let mut steps = Steps::new();
        let bad =
            Source::connect(&connect_request("f", &serde_json::json!({"file_path": " "})), &mut steps).err().unwrap();
        assert_eq!(bad.kind, ErrorKind::Config);
        assert!(steps.as_slice().is_empty(), "a bad config fails before any step");
        let missing =
            Source::connect(&connect_request("f", &serde_json::json!({"file_path": "missing"})), &mut Steps::new());
        assert_eq!(missing.err().unwrap().kind, ErrorKind::NotFound);
    }

    #[test]
    fn one_table_sources_page_in_the_default_schema() {
        let mut connection =
            Source::connect(&connect_request("f", &serde_json::json!({"file_path": "/data/t.csv"})), &mut Steps::new())
                .ok()
                .unwrap();
        let page = connection.discover(&discover_request(None, &[], 10)).unwrap();
        assert_eq!((page.schemas[0].name.as_str(), page.schemas[0].tables[0].name.as_str()), (SCHEMA, "t"));
        assert_eq!(page.schemas[0].tables[0].kind, ObjectKind::File);
        assert!(connection.discover(&discover_request(None, &[SCHEMA], 10)).unwrap().schemas.is_empty());
    }
}
