//! # inlet-sdk
//!
//! Everything a connector author needs to turn protocol code into an Inlet
//! connector: the generated bindings of the `inlet:connector@0.2.0` world, three
//! small traits ([`Connector`], [`Connection`] and [`Rows`]), the [`export_connector!`]
//! macro that wires them to the component's exports, and helpers for the
//! chores every connector shares (config parsing and checks, secrets,
//! errors, timed steps, deadlines, schema records, paging, files, wording,
//! logging, result batches ([`rows`]), sockets, TLS and the server fields of a config behind the `tls`
//! feature, HTTP over wasi:http behind
//! `http`, AWS Signature Version 4 and credentials behind `aws`).
//!
//! ```no_run
//! use inlet_sdk::prelude::*;
//!
//! struct Echo;
//! struct EchoConnection;
//!
//! impl Connector for Echo {
//!     type Connection = EchoConnection;
//!     fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<EchoConnection, ConnectorError> {
//!         steps.run("open", || Ok(EchoConnection))
//!     }
//! }
//!
//! impl Connection for EchoConnection {
//!     fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
//!         steps.run("ping", || Ok(Some("echo 1.0".to_owned())))
//!     }
//!     fn discover(&mut self, _: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
//!         Ok(DiscoverPage { schemas: vec![], next_page_token: None })
//!     }
//! }
//!
//! inlet_sdk::export_connector!(Echo);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.2.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "inlet_sdk::bindings",
        generate_all,
    });
}

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod data_type;
pub mod deadline;
mod error;
pub mod file;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
pub mod net;
pub mod paging;
mod request;
pub mod row;
pub mod rows;
pub mod schema;
#[cfg(feature = "tls")]
pub mod server;
mod steps;
pub mod testing;
pub mod text;
#[cfg(feature = "tls")]
pub mod tls;

pub use bindings::inlet::connector::types::{
    Batch, ByteVector, CheckStep, Column, ColumnValues, ConnectRequest, ConnectorError, Constraint, ConstraintKind,
    DiscoverPage, DiscoverRequest, Endpoint, ErrorKind, Failure, ObjectKind, Parameter, PreviewRequest, QueryRequest,
    ResultColumn, Schema, Table, TestReport, TextVector, TimeUnit, Values,
};
pub use error::{IoErrorExt, file_error, io_error};
pub use request::ConnectRequestExt;
pub use rows::Rows;
pub use steps::Steps;

/// The names most connectors use.
pub mod prelude {
    pub use crate::config::ConnectorConfig;
    pub use crate::rows::{BatchBuilder, BufferedRows, Value, result_column};
    pub use crate::schema::{ColumnBuilder, TableBuilder};
    pub use crate::text::plural;
    pub use crate::{
        CheckStep, Column, ConnectRequest, ConnectRequestExt, Connection, Connector, ConnectorError, Constraint,
        ConstraintKind, DiscoverPage, DiscoverRequest, ErrorKind, IoErrorExt, ObjectKind, Parameter, PreviewRequest,
        QueryRequest, ResultColumn, Rows, Schema, Steps, Table, data_type,
    };
}

/// A data source type's way in: parses the request and opens a connection.
pub trait Connector: 'static {
    type Connection: Connection;

    /// Opens a connection. Time each stage with `steps.run(...)`, so that a
    /// failed connect tells the user which stage failed and how long each took.
    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<Self::Connection, ConnectorError>;
}

/// A live connection. The host pools it, so it must stay usable across calls.
pub trait Connection: 'static {
    /// Checks the connection as a user would want it checked (a round trip,
    /// privileges), timing each check with `steps.run(...)`, and returns the
    /// server's version when there is one.
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError>;

    /// Returns one page of the catalog: at most `request.page_size` tables,
    /// starting after `request.page_token`.
    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError>;

    /// The first `request.limit` rows of one object `discover` named, as
    /// [`Rows`] the host pulls a batch at a time ([`rows::BufferedRows`] for
    /// rows already in memory). By default: `unsupported`.
    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        let _ = request;
        Err(ConnectorError::unsupported("this connector does not preview data yet"))
    }

    /// Runs a read-only statement in the source's own language, for types
    /// whose manifest declares `[types.query]`. Where the source has them,
    /// run it in a read-only transaction, so that the server itself refuses
    /// writes, and bind `request.parameters` through the protocol, never into
    /// the text. By default: `unsupported`.
    fn query(&mut self, request: &QueryRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        let _ = request;
        Err(ConnectorError::unsupported("this connector does not run queries"))
    }
}

/// Exports a [`Connector`] implementation as the component's `connector` interface.
///
/// The exports exist only when building the component (wasm32): a native
/// build of the same crate (its unit tests) links without them.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::exports::inlet::connector::connector as __wit;

            type __C = <$connector as $crate::Connector>::Connection;

            struct __InletExports;
            // Shared with the `rows` a preview or query returns, which read
            // from the same connection while they live.
            struct __InletConnection(::std::rc::Rc<::core::cell::RefCell<__C>>);
            struct __InletRows {
                connection: ::std::rc::Rc<::core::cell::RefCell<__C>>,
                rows: ::core::cell::RefCell<::std::boxed::Box<dyn $crate::Rows<__C>>>,
            }

            impl __InletConnection {
                fn rows(
                    &self,
                    outcome: ::core::result::Result<::std::boxed::Box<dyn $crate::Rows<__C>>, $crate::ConnectorError>,
                ) -> ::core::result::Result<__wit::Rows, $crate::ConnectorError> {
                    outcome.map(|rows| {
                        __wit::Rows::new(__InletRows {
                            connection: ::std::rc::Rc::clone(&self.0),
                            rows: ::core::cell::RefCell::new(rows),
                        })
                    })
                }
            }

            impl __wit::GuestRows for __InletRows {
                fn columns(&self) -> ::std::vec::Vec<$crate::ResultColumn> {
                    $crate::Rows::columns(&**self.rows.borrow())
                }

                fn next(
                    &self,
                    max_rows: u32,
                ) -> ::core::result::Result<::core::option::Option<$crate::Batch>, $crate::ConnectorError> {
                    $crate::Rows::next(&mut **self.rows.borrow_mut(), &mut *self.connection.borrow_mut(), max_rows)
                }
            }

            impl ::core::ops::Drop for __InletRows {
                fn drop(&mut self) {
                    // The host made no other call on the connection while
                    // the rows lived, so neither cell is borrowed here.
                    if let Ok(mut connection) = self.connection.try_borrow_mut() {
                        $crate::Rows::close(&mut **self.rows.get_mut(), &mut *connection);
                    }
                }
            }

            impl __wit::Guest for __InletExports {
                type Connection = __InletConnection;
                type Rows = __InletRows;

                fn connect(
                    request: $crate::ConnectRequest,
                ) -> ::core::result::Result<__wit::Connected, $crate::Failure> {
                    let mut steps = $crate::Steps::new();
                    match <$connector as $crate::Connector>::connect(&request, &mut steps) {
                        Ok(connection) => Ok(__wit::Connected {
                            connection: __wit::Connection::new(__InletConnection(::std::rc::Rc::new(
                                ::core::cell::RefCell::new(connection),
                            ))),
                            steps: steps.into_steps(),
                        }),
                        Err(error) => Err(steps.into_failure(error)),
                    }
                }
            }

            impl __wit::GuestConnection for __InletConnection {
                fn test(&self) -> ::core::result::Result<$crate::TestReport, $crate::Failure> {
                    let mut steps = $crate::Steps::new();
                    let outcome = $crate::Connection::test(&mut *self.0.borrow_mut(), &mut steps);
                    match outcome {
                        Ok(server_version) => Ok($crate::TestReport { server_version, steps: steps.into_steps() }),
                        Err(error) => Err(steps.into_failure(error)),
                    }
                }

                fn discover(
                    &self,
                    request: $crate::DiscoverRequest,
                ) -> ::core::result::Result<$crate::DiscoverPage, $crate::ConnectorError> {
                    $crate::Connection::discover(&mut *self.0.borrow_mut(), &request)
                }

                fn preview(
                    &self,
                    request: $crate::PreviewRequest,
                ) -> ::core::result::Result<__wit::Rows, $crate::ConnectorError> {
                    let outcome = $crate::Connection::preview(&mut *self.0.borrow_mut(), &request);
                    self.rows(outcome)
                }

                fn query(
                    &self,
                    request: $crate::QueryRequest,
                ) -> ::core::result::Result<__wit::Rows, $crate::ConnectorError> {
                    let outcome = $crate::Connection::query(&mut *self.0.borrow_mut(), &request);
                    self.rows(outcome)
                }
            }

    $crate::bindings::__export_world!(__InletExports with_types_in $crate::bindings);
        };
    };
}

/// The tutorial in `sdk/README.md`, compiled as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
