//! Logging to the host, which tags every line with the plugin id. Never log a secret.

use crate::bindings::inlet::connector::host::{self, LogLevel};

pub fn debug(message: &str) {
    host::log(LogLevel::Debug, message);
}

pub fn info(message: &str) {
    host::log(LogLevel::Info, message);
}

pub fn warn(message: &str) {
    host::log(LogLevel::Warn, message);
}

pub fn error(message: &str) {
    host::log(LogLevel::Error, message);
}
