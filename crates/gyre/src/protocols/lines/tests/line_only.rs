//! [`LineOnlyProtocol`]: Twisted's `LineOnlyReceiver` (reference §9.2).

use super::*;

/// `LineOnlyProtocol` splits on the exact delimiter only, delivers empty lines, and keeps a partial line.
#[test]
fn line_only_splits_on_the_exact_delimiter() {
    let input = b"a\r\nb\nc\r\n\r\nd";
    let (events, ..) = every_chunking(input, || LineOnlyProtocol::new(Rec::new()), summary_only);
    assert_eq!(events, [line(b"a"), line(b"b\nc"), line(b"")]);
    let (mut p, st) = connected(LineOnlyProtocol::new(Rec::new()));
    feed(&mut p, &st, input, 3);
    assert_eq!(p.buffered(), b"d");
}

/// `LineOnlyProtocol`: a 16384-byte line is delivered; a 16385-byte one is exceeded with the line alone.
#[test]
fn line_only_limit_arithmetic() {
    let mut input = a_line(DEFAULT_MAX_LENGTH);
    input.extend_from_slice(b"\r\n");
    let (events, _, closed) =
        every_chunking(&input, || LineOnlyProtocol::new(Rec::new()), summary_only);
    assert_eq!(events, [line(&a_line(DEFAULT_MAX_LENGTH))]);
    assert!(!closed);

    let mut input = a_line(DEFAULT_MAX_LENGTH + 1);
    input.extend_from_slice(b"\r\nnever\r\n");
    let (mut p, st) = connected(LineOnlyProtocol::new(Rec::new()));
    p.data_received(&st.transport(), &input);
    assert_eq!(
        p.handler().events,
        [Ev::TooLong(a_line(DEFAULT_MAX_LENGTH + 1))]
    );
    assert!(st.is_disconnecting());
    let (events, _, closed) =
        every_chunking(&input, || LineOnlyProtocol::new(Rec::new()), summary_only);
    assert_eq!(events, [Ev::TooLong(a_line(DEFAULT_MAX_LENGTH + 1))]);
    assert!(closed);
}

/// `LineOnlyProtocol`: a partial line of 16384 bytes waits; one of 16385 is exceeded.
#[test]
fn line_only_partial_line_over_max_is_exceeded() {
    let (events, _, closed) = every_chunking(
        &a_line(DEFAULT_MAX_LENGTH),
        || LineOnlyProtocol::new(Rec::new()),
        summary_only,
    );
    assert!(events.is_empty());
    assert!(!closed);
    let over = a_line(DEFAULT_MAX_LENGTH + 1);
    let (events, _, closed) =
        every_chunking(&over, || LineOnlyProtocol::new(Rec::new()), summary_only);
    assert_eq!(events, [Ev::TooLong(over)]);
    assert!(closed);
}

/// `LineOnlyProtocol`: after a too-long complete line the chunk's other complete lines are dropped and its partial line kept.
#[test]
fn line_only_drops_the_rest_of_the_chunk_after_a_long_line() {
    let (mut p, st) = connected(LineOnlyProtocol::new(
        Rec::new().max(4).only_on_too_long(|_, _, _| {}),
    ));
    p.data_received(&st.transport(), b"ok\r\ntoolong\r\ndropped\r\nkep");
    p.data_received(&st.transport(), b"t\r\nnext\r\n");
    let expected = [
        line(b"ok"),
        Ev::TooLong(b"toolong".to_vec()),
        line(b"kept"),
        line(b"next"),
    ];
    assert_eq!(p.handler().events, expected);
    assert!(!st.is_disconnecting());
}

/// `LineOnlyProtocol` (gyre's bounded rule): a partial line reported as too long is discarded up to its delimiter; later lines arrive.
#[test]
fn line_only_discards_a_long_partial_line_up_to_its_delimiter() {
    let make = || {
        LineOnlyProtocol::new(
            Rec::new()
                .max(4)
                .delimiter(b"--")
                .only_on_too_long(|_, _, _| {}),
        )
    };
    let (mut p, st) = connected(make());
    p.data_received(&st.transport(), b"abcdefgh-ij-kl-");
    assert!(
        p.buffered().len() < 2,
        "only a possible delimiter start is kept"
    );
    p.data_received(&st.transport(), b"-next--");
    assert_eq!(
        p.handler().events,
        [Ev::TooLong(b"abcdefgh-ij-kl-".to_vec()), line(b"next")]
    );
    assert!(p.buffered().is_empty());
    let (mut p, st) = connected(make());
    feed(&mut p, &st, b"abcdefgh-ij-kl--next--", 1);
    assert_eq!(
        p.handler().events,
        [Ev::TooLong(b"abcde".to_vec()), line(b"next")]
    );
}

/// `LineOnlyProtocol` (gyre's fix): the start of a delimiter at the end of a chunk does not count toward the limit.
#[test]
fn line_only_partial_delimiter_does_not_count_toward_the_limit() {
    let (mut p, st) = connected(LineOnlyProtocol::new(Rec::new()));
    let mut first = a_line(DEFAULT_MAX_LENGTH);
    first.push(b'\r');
    p.data_received(&st.transport(), &first);
    p.data_received(&st.transport(), b"\n");
    assert_eq!(p.handler().events, [line(&a_line(DEFAULT_MAX_LENGTH))]);
    assert!(!st.is_disconnecting());
}

/// `LineOnlyProtocol` stops delivering lines once the transport is disconnecting.
#[test]
fn line_only_stops_when_disconnecting() {
    let make = || {
        LineOnlyProtocol::new(Rec::new().only_on_line(|_, conn, line| {
            if line == b"quit" {
                conn.transport().lose_connection();
            }
        }))
    };
    let input = b"a\r\nquit\r\nb\r\n";
    let (events, _, closed) = every_chunking(input, make, summary_only);
    assert_eq!(events, [line(b"a"), line(b"quit")]);
    assert!(closed);
}

/// `LineOnlyProtocol::send_line` is one `write_sequence` of the line and the delimiter.
#[test]
fn line_only_send_line_is_one_write_sequence() {
    let (c, t) = counting();
    let mut p =
        LineOnlyProtocol::new(Rec::new().only_on_line(|_, conn, line| conn.send_line(line)));
    p.connection_made(&t);
    p.data_received(&t, b"one\r\n");
    p.send_line(b"two");
    assert_eq!(c.inner.value(), b"one\r\ntwo\r\n");
    assert_eq!((c.writes.get(), c.sequences.get()), (0, 2));
}

/// When the turn's work is done, `LineOnlyProtocol` stops after a line,
/// keeps the rest (not mistaking the lines left for one long line), and
/// goes on in order when called again with no bytes.
#[test]
fn a_spent_turn_yields_between_lines_only() {
    let (mut p, st) = connected(LineOnlyProtocol::new(Rec::new().max(4)));
    st.set_should_yield(true);
    p.data_received(&st.transport(), b"a\r\nbb\r\nccc\r\ndd");
    assert_eq!(p.handler().events, [line(b"a")]);
    assert_eq!(st.yields(), 1);
    assert!(
        !st.is_disconnecting(),
        "the lines left are not one long line"
    );
    st.set_should_yield(false);
    p.data_received(&st.transport(), b"");
    assert_eq!(p.handler().events, [line(b"a"), line(b"bb"), line(b"ccc")]);
    p.data_received(&st.transport(), b"d\r\n");
    assert_eq!(
        p.handler().events,
        [line(b"a"), line(b"bb"), line(b"ccc"), line(b"ddd")]
    );
}
