//! Quoting as Twisted's IRC module does it: the low level (`\x10`
//! escapes for NUL, LF, CR and `\x10` itself, applied to whole lines) and
//! the CTCP level (`\` escapes for `\x01` and `\` inside CTCP messages),
//! and CTCP extraction and formatting.

use std::borrow::Cow;

/// The CTCP delimiter.
pub const X_DELIM: char = '\x01';
/// The low-level quote character.
pub const M_QUOTE: char = '\x10';
/// The CTCP-level quote character.
pub const X_QUOTE: char = '\\';

/// Low-level quoting of a whole line (Twisted's `lowQuote`): NUL → `\x10 0`,
/// LF → `\x10 n`, CR → `\x10 r`, `\x10` → `\x10\x10`.
pub fn low_quote(s: &str) -> Cow<'_, str> {
    if !s.contains([M_QUOTE, '\0', '\n', '\r']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            M_QUOTE => out.push_str("\x10\x10"),
            '\0' => out.push_str("\x100"),
            '\n' => out.push_str("\x10n"),
            '\r' => out.push_str("\x10r"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The inverse (Twisted's `lowDequote`): `\x10` and the character after
/// it become the quoted character; an unknown one stands for itself; a
/// `\x10` at the very end stays.
pub fn low_dequote(s: &str) -> Cow<'_, str> {
    dequote(s, M_QUOTE, |c| match c {
        '0' => '\0',
        'n' => '\n',
        'r' => '\r',
        other => other,
    })
}

/// CTCP-level quoting (Twisted's `ctcpQuote`): `\` → `\\`, `\x01` → `\a`.
pub fn ctcp_quote(s: &str) -> Cow<'_, str> {
    if !s.contains([X_QUOTE, X_DELIM]) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            X_QUOTE => out.push_str("\\\\"),
            X_DELIM => out.push_str("\\a"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The inverse (Twisted's `ctcpDequote`): `\a` → `\x01`, `\` and any other
/// character → that character; a `\` at the very end stays.
pub fn ctcp_dequote(s: &str) -> Cow<'_, str> {
    dequote(s, X_QUOTE, |c| if c == 'a' { X_DELIM } else { c })
}

fn dequote(s: &str, quote: char, map: impl Fn(char) -> char) -> Cow<'_, str> {
    if !s.contains(quote) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != quote {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(n) => out.push(map(n)),
            None => out.push(quote),
        }
    }
    Cow::Owned(out)
}

/// A message split into its CTCP parts and its plain text (Twisted's
/// `ctcpExtract`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The CTCP messages, dequoted, as `(tag, data)`; `data` is `None`
    /// when the message has no space.
    pub extended: Vec<(String, Option<String>)>,
    /// The non-empty stretches of plain text, in order.
    pub normal: Vec<String>,
}

/// Splits `message` on `\x01`: even stretches are plain text, odd ones
/// CTCP messages; empty stretches are dropped; each CTCP message is
/// dequoted and split at its first space into tag and data.
///
/// ```
/// use gyre_irc::quote::ctcp_extract;
///
/// let m = ctcp_extract("hi \x01ACTION waves\x01 there\x01VERSION\x01");
/// assert_eq!(m.normal, ["hi ", " there"]);
/// assert_eq!(m.extended, [("ACTION".into(), Some("waves".into())), ("VERSION".into(), None)]);
/// ```
pub fn ctcp_extract(message: &str) -> Extracted {
    let mut out = Extracted::default();
    for (i, part) in message.split(X_DELIM).enumerate() {
        if part.is_empty() {
            continue;
        }
        if i % 2 == 0 {
            out.normal.push(part.to_string());
        } else {
            let m = ctcp_dequote(part);
            let (tag, data) = match m.split_once(' ') {
                Some((t, d)) => (t.to_string(), Some(d.to_string())),
                None => (m.into_owned(), None),
            };
            out.extended.push((tag, data));
        }
    }
    out
}

/// Formats CTCP messages (Twisted's `ctcpStringify`): each becomes
/// `\x01TAG data\x01` (`\x01TAG\x01` when the data is `None` or empty),
/// CTCP-quoted.
pub fn ctcp_stringify<S: AsRef<str>>(messages: &[(&str, Option<S>)]) -> String {
    let mut line = String::new();
    for (tag, data) in messages {
        let m = match data.as_ref().map(|d| d.as_ref()) {
            Some(d) if !d.is_empty() => format!("{tag} {d}"),
            _ => tag.to_string(),
        };
        line.push(X_DELIM);
        line.push_str(&ctcp_quote(&m));
        line.push(X_DELIM);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_quoting_round_trips_and_matches_twisted() {
        assert_eq!(low_quote("a\0b\nc\rd\x10e"), "a\x100b\x10nc\x10rd\x10\x10e");
        assert_eq!(
            low_dequote("a\x100b\x10nc\x10rd\x10\x10e"),
            "a\0b\nc\rd\x10e"
        );
        // Twisted: an unknown escape stands for its character; a final \x10 stays.
        assert_eq!(low_dequote("\x10x\x10"), "x\x10");
    }

    #[test]
    fn ctcp_quoting_matches_twisted() {
        assert_eq!(ctcp_quote("a\\b\x01c"), "a\\\\b\\ac");
        assert_eq!(ctcp_dequote("a\\\\b\\ac\\z\\"), "a\\b\x01cz\\");
        assert_eq!(
            ctcp_stringify(&[("PING", Some("x\x01"))]),
            "\x01PING x\\a\x01"
        );
        assert_eq!(
            ctcp_stringify::<&str>(&[("SOURCE", None)]),
            "\x01SOURCE\x01"
        );
    }
}
