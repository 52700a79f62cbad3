//! What the server says it supports (`005 RPL_ISUPPORT`), with Twisted's
//! defaults and parsing (`ServerSupportedFeatures`).

use std::collections::HashMap;

/// How the server folds nick and channel names to compare them
/// (`CASEMAPPING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseMapping {
    /// Not advertised: Python's `str.lower()`, as Twisted compares.
    Unicode,
    /// `ascii`: A–Z only.
    Ascii,
    /// `rfc1459`: A–Z, and `[]\~` as `{}|^`.
    Rfc1459,
    /// `strict-rfc1459`: A–Z, and `[]\` as `{}|`.
    StrictRfc1459,
}

impl CaseMapping {
    /// `s` folded to lower case under this mapping.
    pub fn lower(self, s: &str) -> String {
        match self {
            CaseMapping::Unicode => s.to_lowercase(),
            CaseMapping::Ascii => s.to_ascii_lowercase(),
            CaseMapping::Rfc1459 | CaseMapping::StrictRfc1459 => s
                .chars()
                .map(|c| match c {
                    '[' => '{',
                    ']' => '}',
                    '\\' => '|',
                    '~' if self == CaseMapping::Rfc1459 => '^',
                    c => c.to_ascii_lowercase(),
                })
                .collect(),
        }
    }

    /// True when `a` and `b` name the same nick or channel.
    pub fn eq(self, a: &str, b: &str) -> bool {
        a == b || self.lower(a) == self.lower(b)
    }
}

/// The channel modes of `CHANMODES`, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChanModes {
    /// Modes that add or remove an address to or from a list (`b`).
    pub address: String,
    /// Modes that always take a parameter (`k`).
    pub param: String,
    /// Modes that take a parameter only when set (`l`).
    pub set_param: String,
    /// Modes that never take one.
    pub no_param: String,
}

/// The server's features: Twisted's defaults (`NICKLEN 9`, `CHANNELLEN
/// 200`, `CHANTYPES #&`, `MODES 3`, `PREFIX (ovh)@+%`, `CHANMODES b,,lk,`)
/// until `005` says otherwise.
#[derive(Debug, Clone)]
pub struct ServerSupport {
    raw: HashMap<String, Vec<String>>,
    nicklen: usize,
    channellen: usize,
    chantypes: Vec<char>,
    modes: Option<usize>,
    prefix: Vec<(char, char)>,
    chanmodes: ChanModes,
    casemapping: CaseMapping,
}

impl Default for ServerSupport {
    fn default() -> Self {
        ServerSupport {
            raw: HashMap::new(),
            nicklen: 9,
            channellen: 200,
            chantypes: vec!['#', '&'],
            modes: Some(3),
            prefix: parse_prefix("(ovh)@+%").expect("valid"),
            chanmodes: ChanModes {
                address: "b".into(),
                param: String::new(),
                set_param: "lk".into(),
                no_param: String::new(),
            },
            casemapping: CaseMapping::Unicode,
        }
    }
}

fn parse_prefix(value: &str) -> Option<Vec<(char, char)>> {
    let rest = value.strip_prefix('(')?;
    let (modes, symbols) = rest.split_once(')')?;
    Some(modes.chars().zip(symbols.chars()).collect())
}

/// Twisted's `_unescapeParamValue`: `\xHH` stands for the byte HH.
fn unescape_value(v: &str) -> Option<String> {
    if !v.contains("\\x") {
        return Some(v.to_string());
    }
    let mut parts = v.split("\\x");
    let mut out = parts.next().unwrap_or("").to_string();
    for part in parts {
        let hex = part.get(..2)?;
        let n = u8::from_str_radix(hex, 16).ok()?;
        out.push(char::from(n));
        out.push_str(&part[2..]);
    }
    Some(out)
}

fn int_or(v: Option<&String>, default: usize) -> usize {
    v.and_then(|s| s.parse().ok()).unwrap_or(default)
}

impl ServerSupport {
    /// Applies the tokens of one `005` line (the parameters between the
    /// nick and the trailing text): `KEY=v1,v2`, `KEY`, or `-KEY`
    /// (forget it, back to the default for the typed ones).
    pub fn parse<'a>(&mut self, tokens: impl IntoIterator<Item = &'a str>) {
        for token in tokens {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            if let Some(gone) = key.strip_prefix('-') {
                self.raw.remove(gone);
                self.reset(gone);
                continue;
            }
            let Some(values) = value
                .split(',')
                .map(unescape_value)
                .collect::<Option<Vec<_>>>()
            else {
                log::info!("Ignoring ISUPPORT token with an invalid \\x escape: {token:?}");
                continue;
            };
            let first = values.first();
            match key {
                "NICKLEN" => self.nicklen = int_or(first, self.nicklen),
                "CHANNELLEN" => self.channellen = int_or(first, self.channellen),
                "CHANTYPES" => {
                    self.chantypes = first.map(|s| s.chars().collect()).unwrap_or_default()
                }
                "MODES" => self.modes = first.and_then(|s| s.parse().ok()),
                "PREFIX" => {
                    if let Some(p) = first.and_then(|s| parse_prefix(s)) {
                        self.prefix = p;
                    } else if first.is_none_or(|s| s.is_empty()) {
                        self.prefix.clear();
                    }
                }
                "CHANMODES" if values.len() <= 4 => {
                    let get = |i: usize| values.get(i).cloned().unwrap_or_default();
                    self.chanmodes = ChanModes {
                        address: get(0),
                        param: get(1),
                        set_param: get(2),
                        no_param: get(3),
                    };
                }
                "CASEMAPPING" => {
                    self.casemapping = match first.map(String::as_str) {
                        Some("ascii") => CaseMapping::Ascii,
                        Some("rfc1459") => CaseMapping::Rfc1459,
                        Some("strict-rfc1459") => CaseMapping::StrictRfc1459,
                        _ => CaseMapping::Unicode,
                    }
                }
                _ => {}
            }
            self.raw.insert(key.to_string(), values);
        }
    }

    fn reset(&mut self, key: &str) {
        let d = ServerSupport::default();
        match key {
            "NICKLEN" => self.nicklen = d.nicklen,
            "CHANNELLEN" => self.channellen = d.channellen,
            "CHANTYPES" => self.chantypes = d.chantypes,
            "MODES" => self.modes = d.modes,
            "PREFIX" => self.prefix = d.prefix,
            "CHANMODES" => self.chanmodes = d.chanmodes,
            "CASEMAPPING" => self.casemapping = d.casemapping,
            _ => {}
        }
    }

    /// The values of a feature as advertised (`None` if never advertised).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.raw.get(key).map(Vec::as_slice)
    }

    /// True once the server advertised `key`.
    pub fn has(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// The longest nick (default 9).
    pub fn nicklen(&self) -> usize {
        self.nicklen
    }

    /// The longest channel name (default 200).
    pub fn channellen(&self) -> usize {
        self.channellen
    }

    /// The characters that start a channel name (default `#&`).
    pub fn chantypes(&self) -> &[char] {
        &self.chantypes
    }

    /// True when `name` starts with one of [`chantypes`](Self::chantypes).
    pub fn is_channel(&self, name: &str) -> bool {
        name.chars()
            .next()
            .is_some_and(|c| self.chantypes.contains(&c))
    }

    /// Mode changes allowed per MODE command (default 3).
    pub fn modes(&self) -> Option<usize> {
        self.modes
    }

    /// The channel membership prefixes, highest first, as `(mode, symbol)`
    /// (default `o @`, `v +`, `h %`).
    pub fn prefix(&self) -> &[(char, char)] {
        &self.prefix
    }

    /// `nick` without its membership symbols (`@+alice` → `alice`).
    pub fn strip_prefix<'a>(&self, nick: &'a str) -> &'a str {
        nick.trim_start_matches(|c| self.prefix.iter().any(|&(_, s)| s == c))
    }

    /// The channel modes by kind.
    pub fn chanmodes(&self) -> &ChanModes {
        &self.chanmodes
    }

    /// The case mapping (Python's `lower()` until advertised).
    pub fn casemapping(&self) -> CaseMapping {
        self.casemapping
    }

    /// Which channel modes take a parameter when added and when removed
    /// (Twisted's `getChannelModeParams`).
    pub fn channel_mode_params(&self) -> (String, String) {
        let prefixes: String = self.prefix.iter().map(|&(m, _)| m).collect();
        let c = &self.chanmodes;
        let removed = format!("{prefixes}{}{}", c.address, c.param);
        let added = format!("{removed}{}", c.set_param);
        (added, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_tokens() {
        let mut s = ServerSupport::default();
        assert_eq!(s.nicklen(), 9);
        assert_eq!(s.channel_mode_params(), ("ovhblk".into(), "ovhb".into()));
        s.parse([
            "NICKLEN=30",
            "CHANTYPES=#",
            "PREFIX=(qaohv)~&@%+",
            "CASEMAPPING=rfc1459",
            "NETWORK=x\\x20y",
        ]);
        assert_eq!(s.nicklen(), 30);
        assert!(s.is_channel("#a") && !s.is_channel("&a"));
        assert_eq!(s.strip_prefix("~@bob"), "bob");
        assert!(s.casemapping().eq("Nick[x]~", "nick{x}^"));
        assert_eq!(s.get("NETWORK"), Some(&["x y".to_string()][..]));
        s.parse(["-NICKLEN", "NICKLEN=abc"]);
        assert_eq!(s.nicklen(), 9);
    }
}
