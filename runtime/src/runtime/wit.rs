//! Which WIT API versions this host runs, and the one place that picks a
//! version module for a plugin: the rest of the runtime (and everything above
//! it) calls [`BindingsPre`] and [`Bindings`] with [`crate::model`] values and
//! never names a version.
//!
//! # The versions
//! Each version module (`v0_1_0`, …) declares the `api_version`s it serves as
//! a [`VersionRange`] (`SERVES`), and [`MODULES`] lists every module once.
//! That list is the only source of truth: manifest validation
//! ([`check_api_version`]), the loader ([`BindingsPre::link`]) and the linker
//! setup ([`add_host_imports`]) all read it, and error messages name its
//! ranges ([`supported`]).
//!
//! The rule is the component model's semver compatibility, the same one
//! wasmtime applies when it matches import and export names: a module built
//! for `0.1.0` serves `0.1.0` and every later `0.1.x` (for `1.0.0` and up,
//! every later `1.x`). A plugin declaring `0.1.5` therefore runs through
//! `v0_1_0`; if it needs something 0.1.0 lacks, linking it fails with the
//! linker's message. Pre-releases and build metadata are not served.
//!
//! # Adding a version (as `inlet:connector@0.2.0` was added)
//! 1. A module `v0_X_0.rs` beside the others: its `bindgen!`, `SERVES`,
//!    `add_host_to_linker`, and [`super::catalog_calls`]'s shared calls
//!    (or its own conversions, where its types changed).
//! 2. One variant in each bindings type, with its arm in the matches over
//!    them: `BindingsPre::engine`, `BindingsPre::instantiate`, the
//!    `per_version!` macro, and the calls only some versions have.
//! 3. One line in [`MODULES`].
//!
//! Nothing in `session.rs`, `mod.rs`, the manifest or above changes. Calls
//! only newer versions have (`preview` and `query`, through
//! [`Bindings::open_rows`]) answer `unsupported` on older ones.

use std::fmt;

use semver::Version;
use wasmtime::Engine;
use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker, ResourceAny};

use super::bounds::Tally;
use super::store::StoreState;
use super::{v0_1_0, v0_2_0};
use crate::model;

/// The `api_version`s one version module serves: `lowest` and every later
/// release that is semver-compatible with it (same major; for 0.x the same
/// minor too; for 0.0.x only `lowest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    major: u64,
    minor: u64,
    patch: u64,
}

impl VersionRange {
    pub const fn compatible_with(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch }
    }

    /// Whether a plugin declaring `version` runs through this range's module.
    pub fn contains(&self, version: &Version) -> bool {
        if !version.pre.is_empty() || !version.build.is_empty() {
            return false;
        }
        let at_least = (version.major, version.minor, version.patch) >= (self.major, self.minor, self.patch);
        let compatible = match (self.major, self.minor) {
            (0, 0) => version.major == 0 && version.minor == 0 && version.patch == self.patch,
            (0, minor) => version.major == 0 && version.minor == minor,
            (major, _) => version.major == major,
        };
        at_least && compatible
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { major, minor, patch } = self;
        match (major, minor) {
            (0, 0) => write!(f, "0.0.{patch}"),
            (0, _) => write!(f, "0.{minor}.{patch} and later 0.{minor}.x"),
            _ => write!(f, "{major}.{minor}.{patch} and later {major}.x"),
        }
    }
}

/// One version module as the runtime uses it.
struct VersionModule {
    serves: VersionRange,
    /// Type-checks a pre-linked component against the module's world.
    link: fn(InstancePre<StoreState>) -> wasmtime::Result<BindingsPre>,
    /// Adds the module's `inlet:connector/host` import.
    add_host: fn(&mut Linker<StoreState>) -> wasmtime::Result<()>,
}

/// Every version module, oldest first: the host's supported versions.
static MODULES: &[VersionModule] = &[
    VersionModule {
        serves: v0_1_0::SERVES,
        link: |pre| v0_1_0::PluginPre::new(pre).map(BindingsPre::V0_1_0),
        add_host: v0_1_0::add_host_to_linker,
    },
    VersionModule {
        serves: v0_2_0::SERVES,
        link: |pre| v0_2_0::PluginPre::new(pre).map(BindingsPre::V0_2_0),
        add_host: v0_2_0::add_host_to_linker,
    },
];

/// The module serving `declared`, if any.
fn module_for(declared: &str) -> Option<&'static VersionModule> {
    let version = Version::parse(declared).ok()?;
    MODULES.iter().find(|module| module.serves.contains(&version))
}

/// Whether this host runs plugins declaring `api_version = declared`.
pub fn check_api_version(declared: &str) -> Result<(), Unsupported> {
    module_for(declared).map(|_| ()).ok_or_else(|| Unsupported { declared: declared.to_owned() })
}

/// Whether plugins declaring `api_version = declared` can read data
/// (`preview`, `query`: 0.2.0 and later).
pub fn reads_rows(declared: &str) -> bool {
    Version::parse(declared).is_ok_and(|version| version >= Version::new(0, 2, 0)) && module_for(declared).is_some()
}

/// The supported versions for messages: `0.1.0 and later 0.1.x, …`.
pub fn supported() -> String {
    MODULES.iter().map(|module| module.serves.to_string()).collect::<Vec<_>>().join(", ")
}

/// An `api_version` no version module serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API version {declared} is not supported; this host supports {}", supported())]
pub struct Unsupported {
    pub declared: String,
}

/// Adds the `inlet:connector/host` import of every supported version.
pub(super) fn add_host_imports(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    MODULES.iter().try_for_each(|module| (module.add_host)(linker))
}

/// Why a component could not be bound to its version's world.
#[derive(Debug)]
pub(super) enum LinkError {
    Unsupported(Unsupported),
    /// Its exports do not have the world's types.
    Mismatch(String),
}

/// Expands `$body` once per [`Bindings`] variant, with `$bindings` the
/// variant's value and `$module` its version module.
macro_rules! per_version {
    ($value:expr, $bindings:ident, $module:ident => $body:expr) => {
        match $value {
            Bindings::V0_1_0($bindings) => {
                use super::v0_1_0 as $module;
                $body
            }
            Bindings::V0_2_0($bindings) => {
                use super::v0_2_0 as $module;
                $body
            }
        }
    };
}

/// A plugin's component, linked and type-checked against its version's
/// world: what each new store instantiates.
pub(super) enum BindingsPre {
    V0_1_0(v0_1_0::PluginPre<StoreState>),
    V0_2_0(v0_2_0::PluginPre<StoreState>),
}

impl BindingsPre {
    /// Binds a pre-linked component to the module serving `api_version`.
    pub(super) fn link(api_version: &str, pre: InstancePre<StoreState>) -> Result<Self, LinkError> {
        let module = module_for(api_version)
            .ok_or_else(|| LinkError::Unsupported(Unsupported { declared: api_version.to_owned() }))?;
        (module.link)(pre).map_err(|error| LinkError::Mismatch(format!("{error:#}")))
    }

    pub(super) fn engine(&self) -> &Engine {
        match self {
            Self::V0_1_0(pre) => pre.engine(),
            Self::V0_2_0(pre) => pre.engine(),
        }
    }

    pub(super) async fn instantiate(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Bindings> {
        match self {
            Self::V0_1_0(pre) => pre.instantiate_async(store).await.map(Bindings::V0_1_0),
            Self::V0_2_0(pre) => pre.instantiate_async(store).await.map(Bindings::V0_2_0),
        }
    }
}

/// An instantiated connector's exports.
pub(super) enum Bindings {
    V0_1_0(v0_1_0::Plugin),
    V0_2_0(v0_2_0::Plugin),
}

/// What `connect` gives back: the connection resource and its timed stages.
pub(super) struct Connected {
    pub connection: ResourceAny,
    pub steps: Vec<model::CheckStep>,
}

/// What `preview` and `query` give back: the rows resource and its columns.
pub(super) struct OpenedRows {
    pub rows: ResourceAny,
    pub columns: Vec<model::ResultColumn>,
}

/// What a guest call returns: a trap or other wasmtime error (outer), else
/// the connector's answer, already in the model and bounded (inner).
pub(super) type Answer<T> = wasmtime::Result<Result<T, model::Failure>>;

impl Bindings {
    pub(super) async fn connect(
        &self,
        store: &mut Store<StoreState>,
        request: &model::ConnectRequest,
        tally: &Tally,
    ) -> Answer<Connected> {
        per_version!(self, bindings, version => version::connect(bindings, store, request, tally).await)
    }

    pub(super) async fn test(
        &self,
        store: &mut Store<StoreState>,
        connection: ResourceAny,
        tally: &Tally,
    ) -> Answer<model::TestReport> {
        per_version!(self, bindings, version => version::test(bindings, store, connection, tally).await)
    }

    pub(super) async fn discover(
        &self,
        store: &mut Store<StoreState>,
        connection: ResourceAny,
        request: &model::DiscoverRequest,
        tally: &Tally,
    ) -> Answer<model::DiscoverPage> {
        per_version!(
            self, bindings, version => version::discover(bindings, store, connection, request, tally).await
        )
    }
}

impl Bindings {
    /// Whether the plugin's version can read data (`preview`, `query`).
    pub(super) fn reads_rows(&self) -> bool {
        !matches!(self, Self::V0_1_0(_))
    }

    /// Starts a preview or a query; 0.1.x plugins cannot read data.
    pub(super) async fn open_rows(
        &self,
        store: &mut Store<StoreState>,
        connection: ResourceAny,
        request: &model::RowsRequest,
        tally: &Tally,
    ) -> Answer<OpenedRows> {
        match self {
            Self::V0_1_0(_) => Ok(Err(model::Failure::new(
                model::ErrorKind::Unsupported,
                "this connector was built for inlet:connector 0.1, which cannot read data (preview and query came in 0.2.0)",
                false,
            ))),
            Self::V0_2_0(bindings) => v0_2_0::open_rows(bindings, store, connection, request, tally).await,
        }
    }

    /// The next batch of an open result.
    pub(super) async fn next_batch(
        &self,
        store: &mut Store<StoreState>,
        rows: ResourceAny,
        columns: &[model::ResultColumn],
        max_rows: u32,
        tally: &Tally,
    ) -> Answer<Option<model::Batch>> {
        match self {
            // `open_rows` never opens one on 0.1.x.
            Self::V0_1_0(_) => Ok(Ok(None)),
            Self::V0_2_0(bindings) => v0_2_0::next_batch(bindings, store, rows, columns, max_rows, tally).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_of_the_0_1_module_are_accepted() {
        for declared in ["0.1.0", "0.1.1", "0.1.5", "0.1.99"] {
            assert_eq!(check_api_version(declared), Ok(()), "{declared}");
            assert!(std::ptr::eq(module_for(declared).unwrap(), &MODULES[0]), "{declared} runs through v0_1_0");
        }
    }

    #[test]
    fn other_versions_are_refused_naming_the_supported_ones() {
        for declared in ["0.3.0", "1.0.0", "0.0.9", "0.1.0-rc.1", "0.1.0+build", "0.1", "latest", ""] {
            let error = check_api_version(declared).unwrap_err();
            assert_eq!(error.declared, declared);
            let message = error.to_string();
            assert!(message.contains("this host supports 0.1.0 and later 0.1.x, 0.2.0 and later 0.2.x"), "{message}");
        }
    }

    #[test]
    fn a_range_serves_the_semver_compatible_releases_from_its_lowest() {
        let version = |text: &str| Version::parse(text).unwrap();
        let zero_one = VersionRange::compatible_with(0, 1, 2);
        assert!(zero_one.contains(&version("0.1.2")) && zero_one.contains(&version("0.1.7")));
        assert!(!zero_one.contains(&version("0.1.1")) && !zero_one.contains(&version("0.2.0")));
        let one = VersionRange::compatible_with(1, 2, 0);
        assert!(one.contains(&version("1.2.0")) && one.contains(&version("1.9.3")));
        assert!(!one.contains(&version("1.1.9")) && !one.contains(&version("2.0.0")));
        let zero_zero = VersionRange::compatible_with(0, 0, 3);
        assert!(zero_zero.contains(&version("0.0.3")) && !zero_zero.contains(&version("0.0.4")));
        assert_eq!(one.to_string(), "1.2.0 and later 1.x");
        assert_eq!(zero_zero.to_string(), "0.0.3");
    }

    #[test]
    fn supported_lists_every_module() {
        assert_eq!(supported(), "0.1.0 and later 0.1.x, 0.2.0 and later 0.2.x");
        assert_eq!(MODULES.len(), 2);
    }

    #[test]
    fn the_versions_of_the_0_2_module_are_accepted() {
        for declared in ["0.2.0", "0.2.3"] {
            assert_eq!(check_api_version(declared), Ok(()), "{declared}");
            assert!(std::ptr::eq(module_for(declared).unwrap(), &MODULES[1]), "{declared} runs through v0_2_0");
        }
    }
}
