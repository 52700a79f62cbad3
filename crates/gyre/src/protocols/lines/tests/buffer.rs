//! The sans-I/O core, [`LineBuffer`], on its own.

use super::*;

/// The core frames lines, waits for partial ones, and hands out raw chunks whole.
#[test]
fn line_buffer_frames_lines_and_raw_chunks() {
    let mut b = LineBuffer::new();
    assert_eq!(b.next_event(), None);
    b.feed(b"one\r\n\r\ntw");
    assert_eq!(b.next_event(), Some(LineEvent::Line(b"one")));
    assert_eq!(b.next_event(), Some(LineEvent::Line(b"")));
    assert_eq!(b.next_event(), None);
    b.feed(b"o\r");
    assert_eq!(b.next_event(), None);
    assert_eq!(b.buffered(), b"two\r");
    b.feed(b"\nrest");
    assert_eq!(b.next_event(), Some(LineEvent::Line(b"two")));
    b.set_raw_mode();
    assert!(!b.is_line_mode());
    assert_eq!(b.next_event(), Some(LineEvent::Raw(b"rest")));
    assert_eq!(b.next_event(), None);
    b.set_line_mode();
    b.feed(b"x\r\n");
    assert_eq!(b.next_event(), Some(LineEvent::Line(b"x")));
    assert!(format!("{b:?}").contains("line_mode: true"));
}

/// The core's limits: 16384 delivered, 16385 too long with everything buffered; 16385 unterminated bytes wait, 16386 do not.
#[test]
fn line_buffer_limit_arithmetic() {
    let mut b = LineBuffer::new();
    let mut input = a_line(DEFAULT_MAX_LENGTH);
    input.extend_from_slice(b"\r\n");
    b.feed(&input);
    assert_eq!(
        b.next_event(),
        Some(LineEvent::Line(&input[..DEFAULT_MAX_LENGTH]))
    );

    let mut input = a_line(DEFAULT_MAX_LENGTH + 1);
    input.extend_from_slice(b"\r\nnext\r\n");
    b.feed(&input);
    match b.next_event() {
        Some(LineEvent::LineTooLong(arg)) => assert_eq!(arg, &input[..]),
        other => panic!("expected a too-long line, got {other:?}"),
    }
    assert!(b.buffered().is_empty());

    b.feed(&a_line(DEFAULT_MAX_LENGTH + 1));
    assert_eq!(b.next_event(), None);
    b.feed(b"a");
    match b.next_event() {
        Some(LineEvent::LineTooLong(arg)) => assert_eq!(arg.len(), DEFAULT_MAX_LENGTH + 2),
        other => panic!("expected a too-long line, got {other:?}"),
    }
}

/// A self-overlapping delimiter is found at its first occurrence, fed whole or a byte at a time.
#[test]
fn line_buffer_finds_overlapping_delimiters() {
    let input = b"xaaab--aab-aab";
    for size in 1..=input.len() {
        let mut b = LineBuffer::with_delimiter(b"aab", 100);
        let mut lines = Vec::new();
        for chunk in input.chunks(size) {
            b.feed(chunk);
            while let Some(LineEvent::Line(l)) = b.next_event() {
                lines.push(l.to_vec());
            }
        }
        assert_eq!(lines, [&b"xa"[..], b"--", b"-"], "chunks of {size}");
        assert!(b.buffered().is_empty());
    }
}

/// Changing the delimiter re-examines what is buffered; clearing returns and empties the buffer.
#[test]
fn line_buffer_delimiter_change_and_clear() {
    let mut b = LineBuffer::new();
    b.feed(b"a\nb\nc");
    assert_eq!(b.next_event(), None);
    b.set_delimiter(b"\n");
    assert_eq!(b.delimiter(), b"\n");
    assert_eq!(b.next_event(), Some(LineEvent::Line(b"a")));
    assert_eq!(b.clear(), b"b\nc");
    assert_eq!(b.next_event(), None);
    b.set_max_length(1);
    assert_eq!(b.max_length(), 1);
    b.feed(b"xy\n");
    assert_eq!(b.next_event(), Some(LineEvent::LineTooLong(b"xy\n")));
}

/// An empty delimiter is refused.
#[test]
#[should_panic(expected = "delimiter cannot be empty")]
fn line_buffer_refuses_an_empty_delimiter() {
    LineBuffer::new().set_delimiter(b"");
}
