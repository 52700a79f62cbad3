//! Fuzzes the endpoint description grammar (`gyre::endpoint::parse` and
//! `gyre::endpoint::spec`), which is pure: strings in, values or errors out.
//!
//! The input is taken as text (lossy UTF-8). Checked, for every input:
//! * nothing panics: `parse`, `parse_tcp_server`, `parse_tcp_client`,
//!   `parse_unix_server`, `parse_unix_client`;
//! * `parse` accepts every string except one ending in a lone backslash,
//!   and then gives at least one parameter and no key twice;
//! * every error's message is one line with no control characters, and
//!   names the description it came from (`EndpointError::description`);
//! * a description that parses to a spec is written back (`Display`) as one
//!   that parses to the same spec, as both `Display` impls promise;
//! * `quote_string_argument` round-trips: any text quoted into a keyword
//!   value reads back as that text, and into a positional parameter too
//!   when it holds no `=` (the documented exception).
//!
//! Run: `cargo fuzz run endpoints -s none` from the repository root.

#![no_main]

use gyre::endpoint::EndpointError;
use gyre::endpoint::parse::{parse, quote_string_argument};
use gyre::endpoint::spec::{
    parse_tcp_client, parse_tcp_server, parse_unix_client, parse_unix_server,
};
use libfuzzer_sys::fuzz_target;

/// An error message is one printable line that belongs to `description`.
fn check_error(description: &str, err: &EndpointError) {
    let message = err.to_string();
    assert!(
        !message.chars().any(char::is_control),
        "control character in error message: {message:?}"
    );
    assert_eq!(err.description(), description, "error about another text");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    // The tokeniser.
    let dangling = {
        let trailing = text.chars().rev().take_while(|&c| c == '\\').count();
        trailing % 2 == 1
    };
    match parse(text) {
        Ok(parsed) => {
            assert!(!dangling, "accepted a dangling backslash: {text:?}");
            assert!(
                !parsed.args.is_empty() || !parsed.kwargs.is_empty(),
                "no parameter at all: {text:?}"
            );
            for (i, (key, _)) in parsed.kwargs.iter().enumerate() {
                assert!(
                    parsed.kwargs[..i].iter().all(|(k, _)| k != key),
                    "key {key:?} kept twice: {text:?}"
                );
            }
        }
        Err(err) => {
            assert!(dangling, "refused {text:?}: {err}");
            check_error(text, &err);
        }
    }

    // Server descriptions: errors are well formed, specs round-trip.
    match parse_tcp_server(text) {
        Ok(spec) => {
            let written = spec.to_string();
            match parse_tcp_server(&written) {
                Ok(again) => assert_eq!(again, spec, "{text:?} was written as {written:?}"),
                Err(err) => panic!("{text:?} was written as {written:?}, which fails: {err}"),
            }
        }
        Err(err) => check_error(text, &err),
    }

    // Client descriptions, likewise.
    match parse_tcp_client(text) {
        Ok(spec) => {
            let written = spec.to_string();
            match parse_tcp_client(&written) {
                Ok(again) => assert_eq!(again, spec, "{text:?} was written as {written:?}"),
                Err(err) => panic!("{text:?} was written as {written:?}, which fails: {err}"),
            }
        }
        Err(err) => check_error(text, &err),
    }

    // UNIX descriptions, likewise.
    match parse_unix_server(text) {
        Ok(spec) => {
            let written = spec.to_string();
            match parse_unix_server(&written) {
                Ok(again) => assert_eq!(again, spec, "{text:?} was written as {written:?}"),
                Err(err) => panic!("{text:?} was written as {written:?}, which fails: {err}"),
            }
        }
        Err(err) => check_error(text, &err),
    }
    match parse_unix_client(text) {
        Ok(spec) => {
            let written = spec.to_string();
            match parse_unix_client(&written) {
                Ok(again) => assert_eq!(again, spec, "{text:?} was written as {written:?}"),
                Err(err) => panic!("{text:?} was written as {written:?}, which fails: {err}"),
            }
        }
        Err(err) => check_error(text, &err),
    }

    // Quoting: the text itself as a value and as a positional parameter.
    let quoted = quote_string_argument(text);
    let keyword = parse(&format!("t:k={quoted}")).expect("a quoted value parses");
    assert_eq!(keyword.get("k"), Some(text), "keyword value {quoted:?}");
    assert_eq!(keyword.args, ["t"]);
    if !text.contains('=') {
        let positional = parse(&format!("t:{quoted}")).expect("a quoted parameter parses");
        assert_eq!(positional.args, ["t", text], "positional {quoted:?}");
        assert!(positional.kwargs.is_empty());
    }
});
