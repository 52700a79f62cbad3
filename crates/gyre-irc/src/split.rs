//! Twisted's `irc.split`: break a message into lines of at most `width`
//! characters, the way Python's `textwrap.wrap` does.

/// Splits `text` at each `\n`, then word-wraps each piece to `width`
/// characters as `textwrap.wrap` does with its defaults: tabs expand to
/// 8-column stops, other whitespace becomes spaces, lines break at spaces
/// (the spaces at a break are dropped, as are a piece's trailing spaces;
/// leading spaces of a piece are kept), words longer than a line are cut
/// (at the last hyphen that fits, if any), and pieces that come out empty
/// are dropped.
///
/// One difference, documented: `textwrap` also breaks *between* the parts
/// of a hyphenated word (`well-known` after `well-`) when that word does
/// not fit on the line; here such a word moves to the next line whole.
///
/// ```
/// use gyre_irc::split::split;
///
/// assert_eq!(split("abcdefghij", 8), ["abcdefgh", "ij"]);
/// assert_eq!(split("one two three", 7), ["one two", "three"]);
/// assert!(split("   ", 10).is_empty());
/// ```
pub fn split(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for piece in text.split('\n') {
        wrap(piece, width, &mut out);
    }
    out
}

fn munge(piece: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(piece.len());
    let mut column = 0usize;
    for c in piece.chars() {
        match c {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(' ');
                column = 0;
            }
            '\x0b' | '\x0c' => {
                out.push(' ');
                column += 1;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

fn wrap(piece: &str, width: usize, out: &mut Vec<String>) {
    let text = munge(piece);
    // Chunks: runs of spaces and runs of anything else.
    let mut chunks: Vec<Vec<char>> = Vec::new();
    for &c in &text {
        let space = c == ' ';
        match chunks.last_mut() {
            Some(last) if (last[0] == ' ') == space => last.push(c),
            _ => chunks.push(vec![c]),
        }
    }
    chunks.reverse();
    let mut first = true;
    while !chunks.is_empty() {
        let mut line: Vec<Vec<char>> = Vec::new();
        let mut len = 0usize;
        if !first && chunks.last().is_some_and(|c| c[0] == ' ') {
            chunks.pop();
        }
        while let Some(c) = chunks.last() {
            if len + c.len() <= width {
                len += c.len();
                line.push(chunks.pop().expect("checked"));
            } else {
                break;
            }
        }
        if chunks.last().is_some_and(|c| c.len() > width) {
            let space_left = if width < 1 { 1 } else { width - len };
            let chunk = chunks.last_mut().expect("checked");
            let mut end = space_left;
            if chunk.len() > space_left
                && let Some(h) = chunk[..space_left].iter().rposition(|&c| c == '-')
                && h > 0
                && chunk[..h].iter().any(|&c| c != '-')
            {
                end = h + 1;
            }
            let rest = chunk.split_off(end);
            line.push(std::mem::replace(chunk, rest));
        }
        if line.last().is_some_and(|c| c.first() == Some(&' ')) {
            line.pop();
        }
        if !line.is_empty() {
            out.push(line.concat().into_iter().collect());
            first = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn pieces_and_empties() {
        assert_eq!(split("line1\nline2", 100), ["line1", "line2"]);
        assert_eq!(split("a\n\nb", 100), ["a", "b"]);
        assert!(split("", 10).is_empty());
        assert_eq!(split("  lead", 10), ["  lead"]);
        assert_eq!(split("a\tb", 20), ["a       b"]);
    }
}
