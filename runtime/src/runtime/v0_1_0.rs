//! The host side of WIT API `inlet:connector@0.1.0` (`wit/since_v0.1.0`):
//! generated bindings, the `host` import, the calls `runtime::wit` dispatches
//! to, and conversions between the generated types and [`crate::model`].
//!
//! A later API version gets a module of its own beside this one (see
//! `runtime::wit` for what that takes); everything above the runtime keeps
//! seeing only the model.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceAny};

use super::bounds::{self, PageError, PageMeter, Tally, bound, bound_opt, limits};
use super::store::StoreState;
use super::wit::{Answer, Connected, VersionRange};
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "plugin",
    exports: { default: async },
});

use self::inlet::connector::host::LogLevel;
use self::inlet::connector::types as wit;

/// The `api_version`s this module serves: 0.1.0 and every later 0.1.x.
pub(super) const SERVES: VersionRange = VersionRange::compatible_with(0, 1, 0);

/// Adds the `inlet:connector/host` import to the linker.
pub fn add_host_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    self::inlet::connector::host::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

impl self::inlet::connector::host::Host for StoreState {
    fn log(&mut self, level: LogLevel, message: String) {
        StoreState::log(self, log_level(level), &message);
    }
}

impl self::inlet::connector::types::Host for StoreState {}

super::catalog_calls::catalog_calls!();
