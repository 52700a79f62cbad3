//! Mode strings (`+o-v alice bob`), parsed as Twisted's `parseModes`.

/// Why a mode string does not parse (Twisted's `IRCBadModes`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// Nothing at all.
    #[error("Empty mode string")]
    Empty,
    /// Does not start with `+` or `-`.
    #[error("Malformed modes string: {0:?}")]
    Malformed(String),
    /// A `+` or `-` with no mode after it.
    #[error("Empty mode sequence: {0:?}")]
    EmptySequence(String),
    /// A mode that needs a parameter found none.
    #[error("Not enough parameters: {0:?}")]
    NotEnoughParameters(char),
    /// Parameters left over.
    #[error("Too many parameters: {0:?}")]
    TooManyParameters(String),
}

/// One change: the mode and its parameter, if it takes one.
pub type ModeChange = (char, Option<String>);

/// Splits `modes` (starting with `+` or `-`) and its `params` into the
/// modes added and the modes removed. `param_modes` says which modes
/// take a parameter when added and when removed.
///
/// ```
/// use gyre_irc::modes::parse_modes;
///
/// let (added, removed) = parse_modes("+o-v", &["alice", "bob"], ("ov", "ov")).unwrap();
/// assert_eq!(added, [('o', Some("alice".to_string()))]);
/// assert_eq!(removed, [('v', Some("bob".to_string()))]);
/// ```
pub fn parse_modes(
    modes: &str,
    params: &[&str],
    param_modes: (&str, &str),
) -> Result<(Vec<ModeChange>, Vec<ModeChange>), ModeError> {
    if modes.is_empty() {
        return Err(ModeError::Empty);
    }
    if !modes.starts_with(['+', '-']) {
        return Err(ModeError::Malformed(modes.to_string()));
    }
    let mut changes: (Vec<ModeChange>, Vec<ModeChange>) = (Vec::new(), Vec::new());
    let mut adding = true;
    let mut count: i64 = -1;
    let mut params = params.iter();
    for ch in modes.chars() {
        if ch == '+' || ch == '-' {
            if count == 0 {
                return Err(ModeError::EmptySequence(modes.to_string()));
            }
            adding = ch == '+';
            count = 0;
            continue;
        }
        let takes = if adding { param_modes.0 } else { param_modes.1 };
        let param = if takes.contains(ch) {
            Some(
                params
                    .next()
                    .ok_or(ModeError::NotEnoughParameters(ch))?
                    .to_string(),
            )
        } else {
            None
        };
        if adding {
            &mut changes.0
        } else {
            &mut changes.1
        }
        .push((ch, param));
        count += 1;
    }
    let left: Vec<&str> = params.copied().collect();
    if !left.is_empty() {
        return Err(ModeError::TooManyParameters(format!("{modes} {left:?}")));
    }
    if count == 0 {
        return Err(ModeError::EmptySequence(modes.to_string()));
    }
    Ok(changes)
}
