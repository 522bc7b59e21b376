//! `#[inlet_tests::test]`: the attribute every end-to-end test carries
//! instead of `#[test]` / `#[tokio::test]`.
//!
//! The e2e binary runs under its own harness (`inlet_tests::harness`), so that
//! a test whose service is missing is reported as ignored rather than passed.
//! The attribute keeps the function as written and registers it with that
//! harness under `<module>::<name>`:
//!
//! - `#[inlet_tests::test] fn name() { … }`: a plain test.
//! - `#[inlet_tests::test] async fn name() { … }`: run on a multi-threaded
//!   tokio runtime with two workers (what the tests used before).
//! - `#[inlet_tests::test(each_store)] fn name(backend: Backend) { … }`: two
//!   tests, `name::on_sqlite` and `name::on_postgres`, one per server store;
//!   the PostgreSQL one requires PostgreSQL (skipped or failed by the
//!   harness' one rule when it is missing).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Error, ItemFn, ReturnType, parse_macro_input};

/// Registers the function as an end-to-end test (see the crate docs).
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    let mode = match parse_mode(attr.into()) {
        Ok(mode) => mode,
        Err(error) => return error.to_compile_error().into(),
    };
    match expand(&function, mode) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Plain,
    EachStore,
}

fn parse_mode(attr: Tokens) -> syn::Result<Mode> {
    if attr.is_empty() {
        return Ok(Mode::Plain);
    }
    let word: syn::Ident = syn::parse2(attr)?;
    if word == "each_store" {
        Ok(Mode::EachStore)
    } else {
        Err(Error::new(word.span(), "expected nothing or `each_store`"))
    }
}

fn expand(function: &ItemFn, mode: Mode) -> syn::Result<Tokens> {
    let signature = &function.sig;
    // A returned error would be dropped unseen: tests assert or panic instead.
    if !matches!(signature.output, ReturnType::Default) {
        return Err(Error::new(signature.output.span(), "an e2e test returns nothing: assert or panic instead"));
    }
    let name = &signature.ident;
    let expected_inputs = match mode {
        Mode::Plain => 0,
        Mode::EachStore => 1,
    };
    if signature.inputs.len() != expected_inputs {
        let message = match mode {
            Mode::Plain => "an e2e test takes no arguments (use `each_store` for one `Backend`)",
            Mode::EachStore => "an `each_store` test takes exactly one argument: the `Backend`",
        };
        return Err(Error::new(signature.inputs.span(), message));
    }
    let is_async = signature.asyncness.is_some();
    let registrations = match mode {
        Mode::Plain => vec![register(&name.to_string(), &call(name, None, is_async), None)],
        Mode::EachStore => [("on_sqlite", "Sqlite"), ("on_postgres", "Postgres")]
            .into_iter()
            .map(|(suffix, variant)| {
                let backend = format_ident!("{variant}");
                let backend = quote!(::inlet_tests::server::Backend::#backend);
                let test_name = format!("{name}::{suffix}");
                register(&test_name, &call(name, Some(&backend), is_async), Some(&backend))
            })
            .collect(),
    };
    Ok(quote! {
        #function
        #(#registrations)*
    })
}

/// The expression that runs the test body once.
fn call(name: &syn::Ident, backend: Option<&Tokens>, is_async: bool) -> Tokens {
    let arguments = backend.map(|backend| quote!(#backend)).into_iter();
    if is_async {
        quote!(::inlet_tests::harness::block_on(#name(#(#arguments)*)))
    } else {
        quote!(#name(#(#arguments)*))
    }
}

fn register(test_name: &str, call: &Tokens, backend: Option<&Tokens>) -> Tokens {
    let requirement = backend.map(|backend| quote!(#backend.require();));
    quote! {
        ::inlet_tests::harness::inventory::submit! {
            ::inlet_tests::harness::Test {
                path: ::core::concat!(::core::module_path!(), "::", #test_name),
                run: || {
                    #requirement
                    #call
                },
            }
        }
    }
}
