//! [`EndpointError`]: what is wrong with an endpoint description, from the
//! tokeniser ([`parse`](super::parse)) up to the typed specifications
//! ([`spec`](super::spec)) and the registry of endpoint types.
//!
//! It sits below both grammar files so that the tokeniser, which only
//! reports a dangling backslash, does not import the layer above it. Its
//! messages quote the description with control characters escaped
//! (`Shown`), so each stays one line. Tests: the message texts are checked
//! in `spec.rs` (every variant) and by the `endpoints` fuzz target.

use std::fmt;

/// What is wrong with an endpoint description.
///
/// Every variant carries the whole description it came from, and its
/// `Display` text is one line that quotes the description and names the part
/// at fault, e.g.
/// `invalid endpoint description "tcp:http": port 'http' is not an integer`.
/// Control characters in quoted text are shown escaped, so the line stays one
/// line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The description ends in a backslash with nothing after it to escape.
    ///
    /// Twisted silently drops such a backslash; gyre treats it as the quoting
    /// mistake it almost always is.
    #[error("{}: it ends with a backslash that escapes nothing", Intro(.description))]
    TrailingBackslash {
        /// The description as given.
        description: String,
    },

    /// The description names no endpoint type: it is empty, starts with `:`,
    /// or has keyword parameters only.
    #[error(
        "{}: no endpoint type given (a description starts with one, as in 'tcp:80')",
        Intro(.description)
    )]
    MissingType {
        /// The description as given.
        description: String,
    },

    /// The endpoint type is not one gyre knows. The message keeps Twisted's
    /// wording, with the type lower-cased as Twisted prints it; if that
    /// differs from what was written, the original spelling follows.
    #[error(
        "{}: Unknown endpoint type: '{}'{}",
        Intro(.description),
        Lower(.kind),
        GivenAs(.kind)
    )]
    UnknownType {
        /// The description as given.
        description: String,
        /// The endpoint type as written.
        kind: String,
    },

    /// A required parameter (such as `port`, or a client's `host`) is absent.
    #[error("{}: missing parameter '{}'", Intro(.description), Shown(.name))]
    MissingParameter {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
    },

    /// A parameter that needs a value (a client's `host`) is empty.
    #[error("{}: parameter '{}' is empty", Intro(.description), Shown(.name))]
    EmptyParameter {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
    },

    /// A numeric parameter (`port`, `backlog`, `timeout`) is not an integer.
    #[error(
        "{}: {} '{}' is not an integer",
        Intro(.description),
        Shown(.name),
        Shown(.value)
    )]
    NotAnInteger {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
        /// The value as given.
        value: String,
    },

    /// A parameter read in base 8 (a UNIX socket's `mode`) is not an octal
    /// integer (Python's `int(value, 8)` refuses it: `"8"`, `"rw"`).
    #[error(
        "{}: {} '{}' is not an octal integer",
        Intro(.description),
        Shown(.name),
        Shown(.value)
    )]
    NotOctal {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
        /// The value as given.
        value: String,
    },

    /// A numeric parameter is an integer outside the range it allows
    /// (a port above 65535, a negative backlog or timeout).
    #[error(
        "{}: {} '{}' is out of range ({} to {})",
        Intro(.description),
        Shown(.name),
        Shown(.value),
        .min,
        .max
    )]
    OutOfRange {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
        /// The value as given.
        value: String,
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },

    /// An address parameter (`interface`, `bindAddress`, or a `tcp6` client's
    /// `host`) is not the kind of address it has to be.
    #[error(
        "{}: {} '{}' is not {}",
        Intro(.description),
        Shown(.name),
        Shown(.value),
        .expected
    )]
    InvalidAddress {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
        /// The value as given.
        value: String,
        /// What the value should have been, e.g. `an IPv6 address`.
        expected: String,
    },

    /// A keyword parameter the endpoint type does not take (Twisted raises
    /// `TypeError: unexpected keyword argument`). Keys are case-sensitive.
    #[error(
        "{}: unexpected keyword argument '{}' for endpoint type '{}' (it takes {})",
        Intro(.description),
        Shown(.key),
        Shown(.kind),
        .accepted.join(", ")
    )]
    UnexpectedKeyword {
        /// The description as given.
        description: String,
        /// The endpoint type as written.
        kind: String,
        /// The unexpected key.
        key: String,
        /// The keys the endpoint type takes.
        accepted: Vec<String>,
    },

    /// More positional parameters than the endpoint type takes.
    #[error(
        "{}: too many positional arguments for endpoint type '{}' (it takes at most {} after the type, got {})",
        Intro(.description),
        Shown(.kind),
        .max,
        .given
    )]
    TooManyArguments {
        /// The description as given.
        description: String,
        /// The endpoint type as written.
        kind: String,
        /// How many positional parameters the type takes, not counting itself.
        max: usize,
        /// How many were given, not counting the type.
        given: usize,
    },

    /// A parameter given both positionally and as a keyword
    /// (`tcp:80:port=81`).
    #[error(
        "{}: parameter '{}' given twice, positionally and as '{}='",
        Intro(.description),
        Shown(.name),
        Shown(.name)
    )]
    DuplicateParameter {
        /// The description as given.
        description: String,
        /// The parameter's name.
        name: String,
    },
}

impl EndpointError {
    /// The description the error is about.
    pub fn description(&self) -> &str {
        match self {
            EndpointError::TrailingBackslash { description }
            | EndpointError::MissingType { description }
            | EndpointError::UnknownType { description, .. }
            | EndpointError::MissingParameter { description, .. }
            | EndpointError::EmptyParameter { description, .. }
            | EndpointError::NotAnInteger { description, .. }
            | EndpointError::NotOctal { description, .. }
            | EndpointError::OutOfRange { description, .. }
            | EndpointError::InvalidAddress { description, .. }
            | EndpointError::UnexpectedKeyword { description, .. }
            | EndpointError::TooManyArguments { description, .. }
            | EndpointError::DuplicateParameter { description, .. } => description,
        }
    }
}

/// Text shown with control characters escaped (`\n`, `\u{7f}`), everything
/// else, backslashes included, as is.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// The opening of every message: the description, quoted.
struct Intro<'a>(&'a str);

impl fmt::Display for Intro<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid endpoint description \"{}\"", Shown(self.0))
    }
}

/// An endpoint type lower-cased, as Twisted prints an unknown one.
struct Lower<'a>(&'a str);

impl fmt::Display for Lower<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Shown(&self.0.to_lowercase()).fmt(f)
    }
}

/// ` (given as 'TCP')` when lower-casing changed the name, else nothing.
struct GivenAs<'a>(&'a str);

impl fmt::Display for GivenAs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.to_lowercase() == self.0 {
            Ok(())
        } else {
            write!(f, " (given as '{}')", Shown(self.0))
        }
    }
}
