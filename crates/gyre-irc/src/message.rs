//! IRC messages as text: parsing (Twisted's `parsemsg`, plus IRCv3 tags)
//! and serialising.
//!
//! Parsing borrows from the line; nothing is copied except the parameter
//! list. Tag values are unescaped on demand ([`Message::tags`]).

use std::borrow::Cow;
use std::fmt;

/// Why a line is not an IRC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing to parse (Twisted's `IRCBadMessage("Empty line.")`).
    #[error("Empty line.")]
    Empty,
    /// A `:prefix` (or `@tags`) with nothing after it.
    #[error("no command after the prefix")]
    NoCommand,
}

/// Why a message cannot be written as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerializeError {
    /// The command is empty or contains a space, `:` first, CR, LF or NUL.
    #[error("invalid command {0:?}")]
    BadCommand(String),
    /// A middle parameter is empty, starts with `:` or contains whitespace.
    #[error("parameter {index} ({param:?}) cannot be a middle parameter")]
    BadMiddle {
        /// Its position.
        index: usize,
        /// The parameter.
        param: String,
    },
    /// CR, LF or NUL inside a parameter, prefix or tag key.
    #[error("CR, LF or NUL in {0:?}")]
    LineBreak(String),
    /// A tag key that is empty or holds a space, `=` or `;`.
    #[error("invalid tag key {0:?}")]
    BadTagKey(String),
}

/// One parsed message: `@tags :prefix COMMAND params…`.
///
/// `prefix` is `""` when the line has none, as in Twisted (whose callbacks
/// receive the empty string). The trailing parameter, if any, is the last
/// element of `params`, kept whole (it may contain spaces and `" :"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// The raw tag section, without the `@` (empty when there is none).
    pub raw_tags: &'a str,
    /// The prefix without its `:`; empty when there is none.
    pub prefix: &'a str,
    /// The command or three-digit numeric, as sent.
    pub command: &'a str,
    /// The parameters, the trailing one last.
    pub params: Params<'a>,
}

/// Python's `str.isspace` for the characters `str.split()` splits on.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// ASCII whitespace as Python's `str.split()` sees it (`\t\n\v\f\r`,
/// `\x1c`–`\x1f`, space).
fn is_py_space_byte(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x20)
}

/// The index of the first space (the byte) in `b` at or after `from`.
fn space_from(b: &[u8], from: usize) -> Option<usize> {
    crate::swar::find_from(b, from, b' ')
}

/// A message's parameters: up to 8 kept inline (most messages have
/// fewer than 5), more in a vector (RFC 1459 allows 15; Twisted accepts
/// any number). Reads as a slice.
#[derive(Clone, Default)]
pub struct Params<'a> {
    inline: [&'a str; 4],
    len: usize,
    more: Vec<&'a str>,
}

impl<'a> Params<'a> {
    fn push(&mut self, p: &'a str) {
        if self.len < self.inline.len() {
            self.inline[self.len] = p;
            self.len += 1;
        } else {
            if self.more.is_empty() {
                self.more.extend_from_slice(&self.inline);
            }
            self.more.push(p);
        }
    }

    /// The parameters as a slice.
    pub fn as_slice(&self) -> &[&'a str] {
        if self.more.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.more
        }
    }
}

impl<'a> std::ops::Deref for Params<'a> {
    type Target = [&'a str];
    fn deref(&self) -> &[&'a str] {
        self.as_slice()
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl PartialEq for Params<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Params<'_> {}

impl<const N: usize> PartialEq<[&str; N]> for Params<'_> {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<&str>> for Params<'_> {
    fn eq(&self, other: &Vec<&str>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<[&str]> for Params<'_> {
    fn eq(&self, other: &[&str]) -> bool {
        self.as_slice() == other
    }
}

impl<'a> Message<'a> {
    /// Parses one line (without its line ending) exactly as Twisted's
    /// `parsemsg` does, after taking off a leading `@tags ` section (which
    /// Twisted does not know; servers send it only after `CAP REQ
    /// message-tags`):
    ///
    /// * a leading `:` starts the prefix, which runs to the first space;
    /// * the first `" :"` starts the trailing parameter, kept whole;
    /// * the rest is split on whitespace (Python's `str.split()`).
    ///
    /// ```
    /// use gyre_irc::Message;
    ///
    /// let m = Message::parse(":nick!u@h PRIVMSG #chan :hello there :)").unwrap();
    /// assert_eq!((m.prefix, m.command), ("nick!u@h", "PRIVMSG"));
    /// assert_eq!(m.params, ["#chan", "hello there :)"]);
    /// ```
    pub fn parse(line: &'a str) -> Result<Message<'a>, ParseError> {
        let mut m = Message::default();
        m.parse_into(line)?;
        Ok(m)
    }

    /// [`parse`](Self::parse) into this message (which must be empty, as
    /// [`Message::default`] is), building it where it is: the client parses
    /// every line this way, saving two copies of the message.
    #[inline]
    pub(crate) fn parse_into(&mut self, line: &'a str) -> Result<(), ParseError> {
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        let b = line.as_bytes();
        let mut i = 0;
        let mut raw_tags = "";
        if b[0] == b'@' {
            let at = space_from(b, 1).ok_or(ParseError::NoCommand)?;
            raw_tags = &line[1..at];
            i = at + 1;
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
        }
        let mut prefix = "";
        if b.get(i) == Some(&b':') {
            let at = space_from(b, i + 1).ok_or(ParseError::NoCommand)?;
            prefix = &line[i + 1..at];
            i = at + 1;
        }
        // One pass over the rest: words split as Python's `str.split()`
        // splits (runs of any whitespace), up to the first `" :"`, after
        // which everything is the trailing parameter, looked at no further.
        let mut command = None;
        let params = &mut self.params;
        let mut word: Option<usize> = None;
        let mut push = |w: &'a str| match command {
            None => command = Some(w),
            Some(_) => params.push(w),
        };
        let mut trailing = None;
        while i < b.len() {
            let c = b[i];
            if c.wrapping_sub(b'!') < 0x5f {
                // Printable ASCII (`!` to DEL), what words are made of:
                // a tight loop to the word's end.
                word.get_or_insert(i);
                i += 1;
                while i < b.len() && b[i].wrapping_sub(b'!') < 0x5f {
                    i += 1;
                }
                continue;
            }
            let space = if c == b' ' {
                if b.get(i + 1) == Some(&b':') {
                    trailing = Some(&line[i + 2..]);
                }
                1
            } else if c < 0x80 {
                usize::from(is_py_space_byte(c))
            } else {
                let ch = line[i..].chars().next().unwrap_or_default();
                if is_py_space(ch) {
                    ch.len_utf8()
                } else {
                    word.get_or_insert(i);
                    i += ch.len_utf8();
                    continue;
                }
            };
            if space == 0 {
                word.get_or_insert(i);
                i += 1;
                continue;
            }
            if let Some(start) = word.take() {
                push(&line[start..i]);
            }
            if trailing.is_some() {
                break;
            }
            i += space;
        }
        if let Some(start) = word {
            push(&line[start..]);
        }
        let command = command.ok_or(ParseError::NoCommand)?;
        if let Some(t) = trailing {
            params.push(t);
        }
        self.raw_tags = raw_tags;
        self.prefix = prefix;
        self.command = command;
        Ok(())
    }

    /// The nick part of the prefix: up to the first `!`.
    pub fn nick(&self) -> &'a str {
        nick_of(self.prefix)
    }

    /// The tags, keys in order, values unescaped (`None` for a key
    /// without `=`, as IRCv3 allows).
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, Option<Cow<'a, str>>)> + 'a {
        parse_tags(self.raw_tags)
    }

    /// The value of the tag `key`, unescaped; `None` when absent; the
    /// last one wins when repeated (IRCv3).
    pub fn tag(&self, key: &str) -> Option<Cow<'a, str>> {
        self.tags()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v.unwrap_or(Cow::Borrowed("")))
    }

    /// The parameter at `index`, if present.
    pub fn param(&self, index: usize) -> Option<&'a str> {
        self.params.get(index).copied()
    }
}

/// The nick part of a prefix `nick!user@host` (all of it when there is no `!`).
pub fn nick_of(prefix: &str) -> &str {
    prefix.split('!').next().unwrap_or(prefix)
}

/// Splits a raw tag section into keys and unescaped values.
pub fn parse_tags(raw: &str) -> impl Iterator<Item = (&str, Option<Cow<'_, str>>)> {
    raw.split(';')
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k, Some(unescape_tag_value(v))),
            None => (t, None),
        })
}

/// IRCv3 tag value unescaping: `\:` `;`, `\s` space, `\\` `\`, `\r` CR,
/// `\n` LF; a backslash before any other character is dropped, and a
/// trailing lone backslash too.
pub fn unescape_tag_value(v: &str) -> Cow<'_, str> {
    if !v.contains('\\') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// IRCv3 tag value escaping, the inverse of [`unescape_tag_value`].
pub fn escape_tag_value(v: &str) -> Cow<'_, str> {
    if !v.contains([';', ' ', '\\', '\r', '\n']) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn has_break(s: &str) -> bool {
    s.contains(['\r', '\n', '\0'])
}

/// Writes a message as one line, without the line ending.
///
/// The last parameter gets a `:` when it needs one (empty, starts with
/// `:`, or contains whitespace, which the parser splits on as Python's
/// `str.split()` does); the others must be valid middle parameters.
///
/// ```
/// use gyre_irc::message::serialize;
///
/// let line = serialize(&[("msgid", Some("a;b"))], "", "PRIVMSG", &["#c", "hi there"]).unwrap();
/// assert_eq!(line, "@msgid=a\\:b PRIVMSG #c :hi there");
/// ```
pub fn serialize(
    tags: &[(&str, Option<&str>)],
    prefix: &str,
    command: &str,
    params: &[&str],
) -> Result<String, SerializeError> {
    let mut out = String::new();
    if !tags.is_empty() {
        out.push('@');
        for (i, (k, v)) in tags.iter().enumerate() {
            if k.is_empty() || k.contains([' ', '=', ';']) || has_break(k) {
                return Err(SerializeError::BadTagKey(k.to_string()));
            }
            if i > 0 {
                out.push(';');
            }
            out.push_str(k);
            if let Some(v) = v {
                if v.contains('\0') {
                    return Err(SerializeError::LineBreak(v.to_string()));
                }
                out.push('=');
                out.push_str(&escape_tag_value(v));
            }
        }
        out.push(' ');
    }
    if !prefix.is_empty() {
        if prefix.contains(' ') || has_break(prefix) {
            return Err(SerializeError::LineBreak(prefix.to_string()));
        }
        out.push(':');
        out.push_str(prefix);
        out.push(' ');
    }
    if command.is_empty()
        || command.starts_with([':', '@'])
        || command.contains(' ')
        || has_break(command)
    {
        return Err(SerializeError::BadCommand(command.to_string()));
    }
    out.push_str(command);
    for (index, p) in params.iter().enumerate() {
        if has_break(p) {
            return Err(SerializeError::LineBreak(p.to_string()));
        }
        out.push(' ');
        let last = index + 1 == params.len();
        let needs_colon = p.is_empty() || p.starts_with(':') || p.contains(is_py_space);
        if needs_colon {
            if !last {
                return Err(SerializeError::BadMiddle {
                    index,
                    param: p.to_string(),
                });
            }
            out.push(':');
        }
        out.push_str(p);
    }
    Ok(out)
}

impl fmt::Display for Message<'_> {
    /// The message as a line (a message that parsed always writes back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.raw_tags.is_empty() {
            write!(f, "@{} ", self.raw_tags)?;
        }
        if !self.prefix.is_empty() {
            write!(f, ":{} ", self.prefix)?;
        }
        if self.command.starts_with(['@', ':']) {
            // Only parsed after leading whitespace (Twisted takes it for the
            // command); a tab keeps it from reading as tags or a prefix.
            f.write_str("\t")?;
        }
        f.write_str(self.command)?;
        for (i, p) in self.params.iter().enumerate() {
            let last = i + 1 == self.params.len();
            if last && (p.is_empty() || p.starts_with(':') || p.contains(is_py_space)) {
                write!(f, " :{p}")?;
            } else if p.starts_with(':') {
                // A middle parameter that starts with `:` (parsed after a
                // tab, say): a space before it would start the trailing one.
                write!(f, "\t{p}")?;
            } else {
                write!(f, " {p}")?;
            }
        }
        Ok(())
    }
}
