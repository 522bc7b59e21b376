//! The e2e binary's test harness (`tests/tests/e2e/main.rs` calls [`main`]).
//!
//! Every test carries `#[inlet_tests::test]`, which registers it here
//! ([`Test`]); the harness runs them with libtest's command line (filters,
//! `--exact`, `--list`, `--ignored`, `--include-ignored`, `--test-threads`)
//! through `libtest-mimic`. What libtest cannot do, and the reason for a
//! harness of our own: a test stopped by [`crate::require`] because a service
//! or tool is missing is reported as *ignored*, with the reason, not as passed.

use std::any::Any;
use std::cell::Cell;
use std::panic;
use std::process::ExitCode;
use std::thread;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

pub use inventory;

/// One registered test (written by `#[inlet_tests::test]`, not by hand).
pub struct Test {
    /// `module_path!()` and the test's name, e.g. `e2e::postgres::catalog`.
    pub path: &'static str,
    pub run: fn(),
}

inventory::collect!(Test);

/// The panic payload of a test that stops because what it needs is missing
/// (see [`crate::require`]): the harness reports it as ignored.
pub(crate) struct Skip(pub(crate) String);

/// Runs the registered tests with libtest's command line; the exit code is
/// libtest's (101 when a test failed).
pub fn main() -> ExitCode {
    // libtest takes any number of filters (`-- postgres:: pools::`),
    // libtest-mimic one: the others are applied here.
    let (filters, options) = split_filters(std::env::args().skip(1));
    let mut args = Arguments::from_iter(std::env::args().take(1).chain(options));
    // libtest reads this variable; libtest-mimic only reads the flag.
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS").ok().and_then(|n| n.parse().ok());
    }
    install_panic_hook();
    let mut tests: Vec<&'static Test> = inventory::iter::<Test>.into_iter().collect();
    tests.sort_by_key(|test| test.path);
    let mut trials: Vec<Trial> = tests.into_iter().map(trial).collect();
    match filters.as_slice() {
        [] => {}
        [one] => args.filter = Some(one.clone()),
        many => trials.retain(|trial| many.iter().any(|filter| matches(trial.name(), filter, args.exact))),
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// libtest's options that take a value as the next argument.
const OPTIONS_WITH_VALUES: [&str; 6] = ["--test-threads", "--logfile", "--skip", "--color", "--format", "-Z"];

/// Splits the command line into test-name filters (the free arguments) and
/// the options with their values.
fn split_filters(mut arguments: impl Iterator<Item = String>) -> (Vec<String>, Vec<String>) {
    let (mut filters, mut options) = (Vec::new(), Vec::new());
    while let Some(argument) = arguments.next() {
        if !argument.starts_with('-') {
            filters.push(argument);
            continue;
        }
        let takes_value = OPTIONS_WITH_VALUES.contains(&argument.as_str());
        options.push(argument);
        if takes_value && let Some(value) = arguments.next() {
            options.push(value);
        }
    }
    (filters, options)
}

/// libtest's filter rule: a substring of the name, or the name with `--exact`.
fn matches(name: &str, filter: &str, exact: bool) -> bool {
    if exact { name == filter } else { name.contains(filter) }
}

/// `postgres::catalog` for `e2e::postgres::catalog`: the module inside the
/// binary, then the function, as libtest names tests.
fn display_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_crate, rest)| rest)
}

fn trial(test: &'static Test) -> Trial {
    let name = display_name(test.path);
    Trial::ignorable_test(name, move || run_on_named_thread(name, test.run))
}

thread_local! {
    /// Where the current thread last panicked (the hook sees it, the payload does not).
    static PANIC_LOCATION: Cell<Option<String>> = const { Cell::new(None) };
}

/// Runs one test on a thread named after it, as libtest does, so that panic
/// messages (ours and the server helpers') say which test they belong to.
fn run_on_named_thread(name: &str, run: fn()) -> Result<Completion, Failed> {
    let thread = thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || panic::catch_unwind(run).map_err(|payload| (payload, PANIC_LOCATION.take())))
        .map_err(|error| Failed::from(format!("cannot start a thread for the test: {error}")))?;
    match thread.join() {
        Ok(Ok(())) => Ok(Completion::Completed),
        Ok(Err((payload, location))) => match payload.downcast::<Skip>() {
            Ok(skip) => Ok(Completion::ignored_with(skip.0)),
            Err(payload) => Err(Failed::from(failure_message(payload.as_ref(), location))),
        },
        // The closure catches every unwind; this is a panic in the catching itself.
        Err(payload) => Err(Failed::from(failure_message(payload.as_ref(), None))),
    }
}

fn failure_message(payload: &(dyn Any + Send), location: Option<String>) -> String {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(a panic without a message)");
    match location {
        Some(location) => format!("panicked at {location}:\n{message}"),
        None => format!("panicked:\n{message}"),
    }
}

/// Skips are quiet (the harness prints them as ignored); every other panic
/// is printed by the default hook as usual, and its location kept for the
/// failure summary.
fn install_panic_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if info.payload().is::<Skip>() {
            return;
        }
        PANIC_LOCATION.set(info.location().map(ToString::to_string));
        default(info);
    }));
}

/// Runs an async test body on a multi-threaded tokio runtime with two
/// workers (what `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`
/// gave the tests before).
pub fn block_on<F: std::future::Future<Output = ()>>(body: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("cannot start a tokio runtime for the test: {error}"));
    runtime.block_on(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (Vec<String>, Vec<String>) {
        split_filters(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn filters_are_the_free_arguments_and_option_values_stay_with_their_options() {
        let (filters, options) = split("postgres:: --test-threads 1 pools:: --skip slow --exact --format=terse api::");
        assert_eq!(filters, ["postgres::", "pools::", "api::"]);
        assert_eq!(options, ["--test-threads", "1", "--skip", "slow", "--exact", "--format=terse"]);
        assert_eq!(split("--list"), (vec![], vec!["--list".to_owned()]));
    }

    #[test]
    fn a_filter_matches_a_part_of_the_name_or_with_exact_the_whole() {
        assert!(matches("postgres::tls_modes", "postgres::", false));
        assert!(!matches("postgres::tls_modes", "postgres::", true));
        assert!(matches("postgres::tls_modes", "postgres::tls_modes", true));
    }
}
