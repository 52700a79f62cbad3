//! The tokeniser for endpoint description strings ("strports").
//!
//! A description is a list of parameters separated by `:`. A parameter that
//! contains an `=` is a keyword argument: the text before the first `=` is the
//! key and everything after it (later `=` signs included) is the value. A
//! parameter without `=` is positional; the first positional parameter names
//! the endpoint type. A backslash makes the character after it literal, so
//! `\:` puts a colon inside a parameter, `\=` puts an equals sign inside a key
//! (or a positional parameter), and `\\` is a backslash.
//!
//! ```
//! use gyre::endpoint::parse::parse;
//!
//! let parsed = parse(r"tcp6:8000:interface=\:\:1").unwrap();
//! assert_eq!(parsed.kind(), "tcp6");
//! assert_eq!(parsed.args, ["tcp6", "8000"]);
//! assert_eq!(parsed.get("interface"), Some("::1"));
//! ```
//!
//! This layer knows nothing about endpoint types; [`super::spec`] turns the
//! parameters into typed specifications. Its one error is
//! [`EndpointError::TrailingBackslash`], from `error.rs` below it.

use super::error::EndpointError;

/// A description split into positional and keyword parameters.
///
/// `args[0]` is the endpoint type. `kwargs` keeps the keys in the order they
/// first appeared; a key given more than once keeps its last value, the way a
/// Python keyword dictionary would.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Positional parameters in order, the endpoint type first.
    pub args: Vec<String>,
    /// Keyword parameters as `(key, value)` pairs, each key once.
    pub kwargs: Vec<(String, String)>,
}

impl Parsed {
    /// The endpoint type: the first positional parameter, or `""` if there
    /// is none.
    pub fn kind(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }

    /// The value of keyword parameter `key` (compared exactly, case included).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kwargs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Records a keyword parameter: a new key is appended, a repeated key has
    /// its value replaced where it first appeared.
    fn set(&mut self, key: String, value: String) {
        match self.kwargs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.kwargs.push((key, value)),
        }
    }

    /// Closes the parameter being read: keyword if a key was split off.
    fn finish(&mut self, key: Option<String>, text: String) {
        match key {
            Some(key) => self.set(key, text),
            None => self.args.push(text),
        }
    }
}

/// Splits `description` into positional and keyword parameters.
///
/// Every string is accepted except one ending in a backslash that has nothing
/// left to escape (`"tcp:80\\"`): Twisted quietly drops such a backslash, but
/// a dangling escape is almost always a quoting mistake, so gyre reports it as
/// [`EndpointError::TrailingBackslash`].
///
/// The empty description gives one empty positional parameter (`[""]`), and
/// `"::"` gives three, just as in Twisted.
pub fn parse(description: &str) -> Result<Parsed, EndpointError> {
    let mut parsed = Parsed::default();
    // The text of the parameter being read, and its key once an unescaped
    // `=` has been seen (only the first one counts).
    let mut text = String::new();
    let mut key: Option<String> = None;
    let mut chars = description.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => text.push(escaped),
                None => {
                    return Err(EndpointError::TrailingBackslash {
                        description: description.to_owned(),
                    });
                }
            },
            ':' => parsed.finish(key.take(), std::mem::take(&mut text)),
            '=' if key.is_none() => key = Some(std::mem::take(&mut text)),
            _ => text.push(c),
        }
    }
    parsed.finish(key, text);
    Ok(parsed)
}

/// Escapes `s` so that it reads back as a single parameter value when
/// interpolated into a description: each backslash and each colon gets a
/// backslash in front of it.
///
/// Equals signs are left alone. That is what a keyword value needs (only the
/// first `=` of a parameter is special, and the key supplies it), but a
/// positional parameter containing `=` would turn into a keyword one.
///
/// ```
/// use gyre::endpoint::parse::{parse, quote_string_argument};
///
/// let path = r"C:\keys\server.pem";
/// let description = format!("ssl:443:privateKey={}", quote_string_argument(path));
/// assert_eq!(description, r"ssl:443:privateKey=C\:\\keys\\server.pem");
/// assert_eq!(parse(&description).unwrap().get("privateKey"), Some(path));
/// ```
pub fn quote_string_argument(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || c == ':' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| (*x).to_owned()).collect()
    }

    fn pairs(xs: &[(&str, &str)]) -> Vec<(String, String)> {
        xs.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tokenises_the_reference_examples() {
        /// A description, its positionals and its keyword pairs.
        type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
        let table: &[Case<'_>] = &[
            ("a:b:d=1:c", &["a", "b", "c"], &[("d", "1")]),
            (r"a\:b:k=v=w:x\=y", &["a:b", "x=y"], &[("k", "v=w")]),
            (r"a:b:k\=x=1", &["a", "b"], &[("k=x", "1")]),
            ("::", &["", "", ""], &[]),
            ("", &[""], &[]),
            ("tcp:80", &["tcp", "80"], &[]),
            (
                "tcp:80:interface=127.0.0.1:backlog=10",
                &["tcp", "80"],
                &[("interface", "127.0.0.1"), ("backlog", "10")],
            ),
            (
                r"tcp6:8000:interface=\:\:1",
                &["tcp6", "8000"],
                &[("interface", "::1")],
            ),
            (r"a\\b", &[r"a\b"], &[]),
            (r"a\\:b", &[r"a\", "b"], &[]),
            (r"\a\b", &["ab"], &[]),
            ("k=", &[], &[("k", "")]),
            ("=v", &[], &[("", "v")]),
            ("=", &[], &[("", "")]),
            ("a:", &["a", ""], &[]),
            ("k==", &[], &[("k", "=")]),
            (r"k=a\:b", &[], &[("k", "a:b")]),
            (r"k=a\=b", &[], &[("k", "a=b")]),
            ("é:ü=ß", &["é"], &[("ü", "ß")]),
        ];
        for (description, args, kwargs) in table {
            let parsed = parse(description).unwrap();
            assert_eq!(parsed.args, strings(args), "args of {description:?}");
            assert_eq!(parsed.kwargs, pairs(kwargs), "kwargs of {description:?}");
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_at_its_first_position() {
        let parsed = parse("x:a=1:b=2:a=3").unwrap();
        assert_eq!(parsed.args, ["x"]);
        assert_eq!(parsed.kwargs, pairs(&[("a", "3"), ("b", "2")]));
        assert_eq!(parsed.get("a"), Some("3"));
    }

    #[test]
    fn kind_and_get() {
        let parsed = parse("tcp:host=example.com:80").unwrap();
        assert_eq!(parsed.kind(), "tcp");
        assert_eq!(parsed.get("host"), Some("example.com"));
        assert_eq!(parsed.get("HOST"), None);
        assert_eq!(parsed.get("port"), None);
        assert_eq!(parse("port=80").unwrap().kind(), "");
        assert_eq!(Parsed::default().kind(), "");
    }

    #[test]
    fn a_dangling_backslash_is_rejected() {
        for description in [r"\", r"tcp:80\", r"a\\\", r"k=v\"] {
            let err = parse(description).unwrap_err();
            assert_eq!(
                err,
                EndpointError::TrailingBackslash {
                    description: description.to_owned()
                }
            );
        }
        assert_eq!(
            parse(r"tcp:80\").unwrap_err().to_string(),
            r#"invalid endpoint description "tcp:80\": it ends with a backslash that escapes nothing"#
        );
    }

    #[test]
    fn quoting_escapes_backslashes_and_colons_only() {
        assert_eq!(quote_string_argument(""), "");
        assert_eq!(quote_string_argument("plain"), "plain");
        assert_eq!(quote_string_argument("::1"), r"\:\:1");
        assert_eq!(quote_string_argument(r"C:\x"), r"C\:\\x");
        assert_eq!(quote_string_argument("a=b"), "a=b");
    }

    /// Quoting for a positional parameter: `quote_string_argument` plus `=`.
    fn quote_positional(s: &str) -> String {
        quote_string_argument(s).replace('=', r"\=")
    }

    /// Arbitrary text, with a share that is dense in the special characters.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[ab:=\\\\ ]{0,8}"]
    }

    proptest! {
        #[test]
        fn never_panics(s in text()) {
            let _ = parse(&s);
        }

        #[test]
        fn fails_exactly_on_an_odd_run_of_trailing_backslashes(s in text()) {
            let trailing = s.chars().rev().take_while(|c| *c == '\\').count();
            prop_assert_eq!(parse(&s).is_err(), trailing % 2 == 1);
        }

        #[test]
        fn quoted_positionals_round_trip(xs in prop::collection::vec(text(), 1..8)) {
            let description = xs.iter().map(|x| quote_positional(x)).collect::<Vec<_>>().join(":");
            let parsed = parse(&description).unwrap();
            prop_assert_eq!(parsed.args, xs);
            prop_assert!(parsed.kwargs.is_empty());
        }

        #[test]
        fn quote_string_argument_round_trips_without_equals(
            xs in prop::collection::vec(text().prop_filter("no '='", |x| !x.contains('=')), 1..8)
        ) {
            let description = xs.iter().map(|x| quote_string_argument(x)).collect::<Vec<_>>().join(":");
            prop_assert_eq!(parse(&description).unwrap().args, xs);
        }

        #[test]
        fn quote_string_argument_round_trips_keyword_values(
            key in "[a-zA-Z]{1,8}",
            value in text(),
        ) {
            let description = format!("x:{key}={}:y", quote_string_argument(&value));
            let parsed = parse(&description).unwrap();
            prop_assert_eq!(&parsed.args, &["x", "y"]);
            prop_assert_eq!(parsed.get(&key), Some(value.as_str()));
        }
    }
}
