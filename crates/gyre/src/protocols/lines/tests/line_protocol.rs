//! [`LineProtocol`]: Twisted's `LineReceiver` (reference §9.1).

use super::*;

/// Only the exact delimiter splits: a lone LF is data, empty lines are delivered, a partial line waits.
#[test]
fn only_the_exact_delimiter_splits() {
    let input = b"a\r\nb\nc\r\n\r\nd";
    let (events, written, closed) =
        every_chunking(input, || LineProtocol::new(Rec::new()), summary);
    assert_eq!(events, [line(b"a"), line(b"b\nc"), line(b"")]);
    assert!(written.is_empty());
    assert!(!closed);
    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    feed(&mut p, &st, input, 1);
    assert_eq!(p.buffered(), b"d");
}

/// Another delimiter, whose prefix repeats, splits at its first occurrence at every chunk size.
#[test]
fn custom_delimiter_with_overlapping_prefix() {
    let input = b"x--y---z--";
    let (events, ..) = every_chunking(
        input,
        || LineProtocol::new(Rec::new().delimiter(b"--")),
        summary,
    );
    assert_eq!(events, [line(b"x"), line(b"y"), line(b"-z")]);
}

/// A line of exactly `max_length` (16384) bytes is delivered, at every chunk size.
#[test]
fn line_of_max_length_is_delivered() {
    let mut input = a_line(DEFAULT_MAX_LENGTH);
    input.extend_from_slice(b"\r\nok\r\n");
    let (events, _, closed) = every_chunking(&input, || LineProtocol::new(Rec::new()), summary);
    assert_eq!(events, [line(&a_line(DEFAULT_MAX_LENGTH)), line(b"ok")]);
    assert!(!closed);
}

/// A 16385-byte line goes to `line_length_exceeded` with the line, its delimiter and the rest (16387 bytes here), and the default closes.
#[test]
fn line_one_longer_than_max_is_exceeded_with_everything_buffered() {
    let mut input = a_line(DEFAULT_MAX_LENGTH + 1);
    input.extend_from_slice(b"\r\n");
    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    p.data_received(&st.transport(), &input);
    assert_eq!(p.handler().events, [Ev::TooLong(input.clone())]);
    assert_eq!(input.len(), 16387);
    assert!(st.is_disconnecting());

    input.extend_from_slice(b"never\r\n");
    let (events, _, closed) = every_chunking(&input, || LineProtocol::new(Rec::new()), summary);
    assert_eq!(
        events,
        [Ev::TooLong(input[..DEFAULT_MAX_LENGTH + 2].to_vec())]
    );
    assert!(closed);
}

/// An unterminated buffer waits at 16385 bytes and is too long at 16386 (max + delimiter length), at every chunk size.
#[test]
fn unterminated_buffer_is_exceeded_at_max_plus_delimiter() {
    let waiting = a_line(DEFAULT_MAX_LENGTH + 1);
    let (events, _, closed) = every_chunking(&waiting, || LineProtocol::new(Rec::new()), summary);
    assert!(events.is_empty());
    assert!(!closed);

    let over = a_line(DEFAULT_MAX_LENGTH + 2);
    let (events, _, closed) = every_chunking(&over, || LineProtocol::new(Rec::new()), summary);
    assert_eq!(events, [Ev::TooLong(over.clone())]);
    assert!(closed);
}

/// A handler that keeps the connection after a too-long line gets the next lines.
#[test]
fn exceeded_handler_may_keep_the_connection() {
    let keep = || LineProtocol::new(Rec::new().max(3).on_too_long(|_, _, _| {}));
    let (mut p, st) = connected(keep());
    p.data_received(&st.transport(), b"toolong\r\nlost\r\n");
    p.data_received(&st.transport(), b"ok\r\n");
    let arg = b"toolong\r\nlost\r\n".to_vec();
    assert_eq!(p.handler().events, [Ev::TooLong(arg), line(b"ok")]);
    assert!(!st.is_disconnecting());
}

/// Consumes raw data up to and including `END`, then goes back to lines
/// with the rest fed in again.
fn back_to_lines_after_end(rec: &mut Rec, conn: &LineConnection<'_>, data: &[u8]) {
    rec.raw.extend_from_slice(data);
    if let Some(at) = find(&rec.raw, b"END") {
        let extra = rec.raw.split_off(at + 3);
        conn.set_line_mode(&extra);
    }
}

fn raw_tester() -> LineProtocol<Rec> {
    LineProtocol::new(
        Rec::new()
            .on_line(raw_on_raw)
            .on_raw(back_to_lines_after_end),
    )
}

const RAW_FIRST: &[u8] = b"a\r\nb\nc\r\n\r\nRAW\r\nraw1";
const RAW_SECOND: &[u8] = b"raw2ENDx\r\ny\r\n";

/// Reference §9.1's verified sequence: into raw mode on `RAW`, back after `END` with the tail re-fed.
#[test]
fn verified_raw_mode_sequence() {
    let (mut p, st) = connected(raw_tester());
    p.data_received(&st.transport(), RAW_FIRST);
    p.data_received(&st.transport(), RAW_SECOND);
    let expected = [
        line(b"a"),
        line(b"b\nc"),
        line(b""),
        line(b"RAW"),
        Ev::Raw(b"raw1".to_vec()),
        Ev::Raw(b"raw2ENDx\r\ny\r\n".to_vec()),
        line(b"x"),
        line(b"y"),
    ];
    assert_eq!(p.handler().events, expected);
    assert!(p.is_line_mode());
}

/// The same sequence at every chunk size gives the same lines and consumes the same raw bytes.
#[test]
fn raw_mode_round_trip_at_every_chunk_size() {
    let input = [RAW_FIRST, RAW_SECOND].concat();
    let (lines, raw) = every_chunking(&input, raw_tester, |p, _| {
        (p.handler().lines(), p.handler().raw.clone())
    });
    let expected: [&[u8]; 6] = [b"a", b"b\nc", b"", b"RAW", b"x", b"y"];
    assert_eq!(lines, expected);
    assert_eq!(raw, b"raw1raw2END");
}

/// Raw mode chosen in `connection_made` hands everything over raw, delimiters included.
#[test]
fn raw_mode_from_connection_made() {
    let input = b"no\r\nlines\r\n";
    let make = || {
        let mut rec = Rec::new();
        rec.on_made = |conn| conn.set_raw_mode();
        LineProtocol::new(rec)
    };
    let (events, ..) = every_chunking(input, make, summary);
    assert_eq!(events, [Ev::Raw(input.to_vec())]);
}

/// From outside a callback: raw mode applies to the next data; `set_line_mode(extra)` processes at once.
#[test]
fn steering_from_outside_a_callback() {
    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    p.data_received(&st.transport(), b"a\r\nhalf");
    p.set_raw_mode();
    assert_eq!(p.buffered(), b"half");
    p.data_received(&st.transport(), b"!");
    p.set_line_mode(b"b\r\nc");
    assert_eq!(
        p.handler().events,
        [line(b"a"), Ev::Raw(b"half!".to_vec()), line(b"b")]
    );
    assert_eq!(p.clear_line_buffer(), b"c");
    assert!(p.buffered().is_empty());
    p.send_line(b"out");
    assert_eq!(st.value(), b"out\r\n");
}

/// Pausing stops delivery even from buffered data and pauses reading; resuming delivers the rest.
#[test]
fn pause_stops_delivery_until_resumed() {
    let input = b"a\r\npause\r\nb\r\nc\r\nd";
    let make = || {
        LineProtocol::new(Rec::new().on_line(|_, conn, line| {
            if line == b"pause" {
                conn.pause_producing();
                assert!(conn.is_paused());
            }
        }))
    };
    let (mut p, st) = connected(make());
    feed(&mut p, &st, input, input.len());
    assert_eq!(p.handler().lines(), [&b"a"[..], b"pause"]);
    assert!(p.is_paused());
    assert_eq!(st.producer_state(), ProducerState::Paused);
    assert_eq!(p.buffered(), b"b\r\nc\r\nd");

    let lines = every_chunking(input, make, |p, st| {
        p.resume_producing();
        assert_eq!(st.producer_state(), ProducerState::Producing);
        assert!(!p.is_paused());
        (p.handler().lines(), p.buffered().to_vec())
    });
    let expected: [&[u8]; 4] = [b"a", b"pause", b"b", b"c"];
    assert_eq!(
        lines,
        (expected.map(<[u8]>::to_vec).to_vec(), b"d".to_vec())
    );
}

/// A callback may pause and resume in one go: delivery carries on.
#[test]
fn pause_and_resume_inside_one_callback() {
    let make = || {
        LineProtocol::new(Rec::new().on_line(|_, conn, _| {
            conn.pause_producing();
            conn.resume_producing();
        }))
    };
    let lines = every_chunking(b"a\r\nb\r\n", make, |p, st| {
        assert_eq!(st.producer_state(), ProducerState::Producing);
        p.handler().lines()
    });
    assert_eq!(lines, [b"a", b"b"]);
}

/// `stop_producing` pauses for good and closes the connection.
#[test]
fn stop_producing_pauses_and_closes() {
    let make = || {
        LineProtocol::new(Rec::new().on_line(|_, conn, line| {
            if line == b"stop" {
                conn.stop_producing();
            }
        }))
    };
    let (events, _, closed) = every_chunking(b"stop\r\nafter\r\n", make, summary);
    assert_eq!(events, [line(b"stop")]);
    assert!(closed);

    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    p.stop_producing();
    assert!(p.is_paused());
    assert!(st.is_disconnecting());
    assert_eq!(st.producer_state(), ProducerState::Stopped);
}

/// After a handler calls `lose_connection`, no further line is delivered; the rest stays buffered.
#[test]
fn no_line_after_lose_connection() {
    let input = b"a\r\nquit\r\nb\r\nc\r\n";
    let make = || {
        LineProtocol::new(Rec::new().on_line(|_, conn, line| {
            if line == b"quit" {
                conn.send_line(b"bye");
                conn.transport().lose_connection();
            }
        }))
    };
    let (events, written, closed) = every_chunking(input, make, summary);
    assert_eq!(events, [line(b"a"), line(b"quit")]);
    assert_eq!(written, b"bye\r\n");
    assert!(closed);
    let (mut p, st) = connected(make());
    p.data_received(&st.transport(), input);
    assert_eq!(p.buffered(), b"b\r\nc\r\n");
}

/// Data that arrives while the transport is disconnecting is buffered, not delivered.
#[test]
fn nothing_delivered_while_disconnecting() {
    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    st.transport().lose_connection();
    p.data_received(&st.transport(), b"a\r\n");
    assert!(p.handler().events.is_empty());
    assert_eq!(p.buffered(), b"a\r\n");
}

/// `clear_line_buffer` inside a callback returns what follows the line; nothing more is delivered from it.
#[test]
fn clear_line_buffer_inside_a_callback() {
    let make = || {
        LineProtocol::new(Rec::new().on_line(|rec, conn, line| {
            if line == b"clear" {
                let rest = conn.clear_line_buffer();
                rec.cleared.push(rest);
                rec.cleared.push(conn.clear_line_buffer());
            }
        }))
    };
    let (mut p, st) = connected(make());
    p.data_received(&st.transport(), b"clear\r\nx\r\ny");
    assert_eq!(p.handler().events, [line(b"clear")]);
    assert_eq!(p.handler().cleared, [b"x\r\ny".to_vec(), Vec::new()]);
    assert!(p.buffered().is_empty());
    p.data_received(&st.transport(), b"z\r\n");
    assert_eq!(p.handler().lines(), [&b"clear"[..], b"z"]);
}

/// Data fed from inside a callback is appended after what is buffered: it never overtakes it.
#[test]
fn reentrant_feed_is_appended() {
    let make = || {
        LineProtocol::new(Rec::new().on_line(|_, conn, line| {
            if line == b"inject" {
                conn.set_line_mode(b"x\r\ny\r\n");
            }
        }))
    };
    let input = b"inject\r\na\r\n";
    let (mut p, st) = connected(make());
    p.data_received(&st.transport(), input);
    let expected: [&[u8]; 4] = [b"inject", b"a", b"x", b"y"];
    assert_eq!(p.handler().lines(), expected);
    // A byte at a time, nothing follows `inject` yet when it is delivered.
    let (mut p, st) = connected(make());
    feed(&mut p, &st, input, 1);
    let expected: [&[u8]; 4] = [b"inject", b"x", b"y", b"a"];
    assert_eq!(p.handler().lines(), expected);
}

/// A callback that takes the buffer out and feeds it back behind a line of its own keeps every line, in order, at every chunk size.
#[test]
fn reentrant_clear_and_refeed_keeps_order() {
    let make = || {
        LineProtocol::new(Rec::new().on_line(|_, conn, line| {
            if line == b"swap" {
                let rest = conn.clear_line_buffer();
                conn.set_line_mode(b"first\r\n");
                conn.set_line_mode(&rest);
            }
        }))
    };
    let (events, ..) = every_chunking(b"swap\r\na\r\nb\r\n", make, summary);
    assert_eq!(
        events,
        [line(b"swap"), line(b"first"), line(b"a"), line(b"b")]
    );
}

/// Staged calls in one callback combine as in Twisted: a clear takes what was fed before it, not what is fed after.
#[test]
fn staged_calls_combine_in_call_order() {
    let make = LineProtocol::new(Rec::new().on_line(|rec, conn, line| {
        if line == b"go" {
            conn.set_line_mode(b"1\r\n");
            rec.cleared.push(conn.clear_line_buffer());
            conn.set_line_mode(b"2\r\n");
            conn.set_raw_mode();
            conn.set_line_mode(b"");
        }
    }));
    let (mut p, st) = connected(make);
    p.data_received(&st.transport(), b"go\r\nrest\r\n");
    assert_eq!(p.handler().cleared, [b"rest\r\n1\r\n".to_vec()]);
    assert_eq!(p.handler().lines(), [&b"go"[..], b"2"]);
    assert!(p.is_line_mode());
}

/// A delimiter changed by the handler applies from the next line on, at every chunk size.
#[test]
fn delimiter_change_applies_to_the_next_line() {
    struct Switch {
        lines: Vec<Vec<u8>>,
        lf: Cell<bool>,
    }
    impl LineReceiver for Switch {
        fn line_received(&mut self, _: &LineConnection<'_>, line: &[u8]) {
            self.lines.push(line.to_vec());
            if line == b"LF" {
                self.lf.set(true);
            }
        }
        fn delimiter(&self) -> &[u8] {
            if self.lf.get() { b"\n" } else { b"\r\n" }
        }
    }
    let make = || {
        LineProtocol::new(Switch {
            lines: Vec::new(),
            lf: Cell::new(false),
        })
    };
    let lines = every_chunking(b"a\nb\r\nLF\r\nc\nd\r\n", make, |p, _| {
        p.handler().lines.clone()
    });
    let expected: [&[u8]; 4] = [b"a\nb", b"LF", b"c", b"d\r"];
    assert_eq!(lines, expected);
}

/// `LineProtocol::send_line` is one `write` of the line and the delimiter.
#[test]
fn send_line_is_one_write() {
    let (c, t) = counting();
    let mut p = LineProtocol::new(Rec::new().delimiter(b"\n").on_line(echo));
    p.connection_made(&t);
    p.data_received(&t, b"one\ntwo\n");
    p.send_line(b"three");
    assert_eq!(c.inner.value(), b"one\ntwo\nthree\n");
    assert_eq!((c.writes.get(), c.sequences.get()), (3, 0));
}

/// The protocol logs under its handler's name, and prints its state.
#[test]
fn log_prefix_and_debug_name_the_handler() {
    let (p, _st) = connected(LineProtocol::new(Rec::new()));
    assert_eq!(p.log_prefix(), "Rec");
    assert!(format!("{p:?}").starts_with("LineProtocol { handler: \"Rec\""));
    let (p, _st) = connected(LineOnlyProtocol::new(Rec::new()));
    assert_eq!(p.log_prefix(), "Rec");
    assert!(format!("{p:?}").starts_with("LineOnlyProtocol { handler: \"Rec\""));
    assert!(p.transport().is_some());
}

/// `connection_lost` reaches the handler, and `into_handler` gives it back.
#[test]
fn connection_lost_reaches_the_handler() {
    let (mut p, _st) = connected(LineProtocol::new(Rec::new()));
    p.connection_lost(Reason::Done);
    assert!(p.into_handler().lost.is_some_and(|r| r.is_clean()));
    let (mut p, _st) = connected(LineOnlyProtocol::new(Rec::new()));
    p.handler_mut().max_length = 7;
    p.connection_lost(Reason::Aborted);
    assert!(matches!(p.into_handler().lost, Some(Reason::Aborted)));
}

/// When the turn's work is done (`should_yield`), the framer stops after the
/// line it delivered, keeps the rest, asks to be called again, and
/// delivers the rest in order when it is (`data_received` with no bytes).
#[test]
fn a_spent_turn_yields_between_lines() {
    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    st.set_should_yield(true);
    p.data_received(&st.transport(), b"a\r\nb\r\nc\r\npart");
    assert_eq!(p.handler().events, [line(b"a")]);
    assert_eq!(st.yields(), 1);
    assert_eq!(p.buffered(), b"b\r\nc\r\npart");
    p.data_received(&st.transport(), b"");
    assert_eq!(p.handler().events, [line(b"a"), line(b"b")]);
    assert_eq!(st.yields(), 2);
    st.set_should_yield(false);
    p.data_received(&st.transport(), b"");
    assert_eq!(p.handler().events, [line(b"a"), line(b"b"), line(b"c")]);
    assert_eq!((st.yields(), p.buffered()), (2, &b"part"[..]));
}

/// A framer does not yield when nothing is left to deliver.
#[test]
fn no_yield_without_more_lines() {
    let (mut p, st) = connected(LineProtocol::new(Rec::new()));
    st.set_should_yield(true);
    p.data_received(&st.transport(), b"a\r\n");
    assert_eq!(p.handler().events, [line(b"a")]);
    assert_eq!(st.yields(), 0);
}

/// Runs `input` (one chunk) through a [`Rec`] steered by [`steer`], as
/// bytes and as text lines, and returns both handlers and what each left
/// buffered.
fn both_modes(input: &[u8], delimiter: &[u8]) -> [(Rec, Vec<u8>); 2] {
    [false, true].map(|text| {
        let mut rec = Rec::new()
            .delimiter(delimiter)
            .on_line(steer)
            .on_raw(lines_after_l);
        if text {
            rec = rec.text();
        }
        let (mut p, st) = connected(LineProtocol::new(rec));
        p.data_received(&st.transport(), input);
        let left = p.buffered().to_vec();
        (p.into_handler(), left)
    })
}

/// A line that clears the buffer ends the batch of text lines it came in:
/// the lines after it are not delivered, and `clear_line_buffer` returns
/// them.
#[test]
fn text_lines_stop_at_a_cleared_buffer() {
    for (rec, left) in both_modes(b"a\r\nc\r\nb\r\nd", b"\r\n") {
        assert_eq!(rec.events, [line(b"a"), line(b"c")], "text: {}", rec.text);
        assert_eq!(rec.cleared, [b"b\r\nd".to_vec()]);
        assert!(left.is_empty());
    }
}

/// A line that switches to raw mode ends the batch: what follows it is raw
/// data, and a line after the raw part's `L` is a line again.
#[test]
fn text_lines_stop_at_raw_mode() {
    for (rec, left) in both_modes(b"a\r\nr\r\nb\r\nL\r\ne\r\n", b"\r\n") {
        assert_eq!(
            rec.events,
            [
                line(b"a"),
                line(b"r"),
                Ev::Raw(b"b\r\nL\r\ne\r\n".to_vec()),
                line(b""),
                line(b"e")
            ],
            "text: {}",
            rec.text
        );
        assert!(left.is_empty());
    }
}

/// A line that changes the delimiter ends the batch: the lines after it
/// are split at the new delimiter.
#[test]
fn text_lines_follow_a_new_delimiter() {
    for (rec, left) in both_modes(b"d\r\nab\nx\r\n", b"\r\n") {
        assert_eq!(
            rec.events,
            [line(b"d"), line(b"ab"), line(b"x\r")],
            "text: {}",
            rec.text
        );
        assert!(left.is_empty());
    }
}

/// A line that lowers the limit ends the batch: a line after it over the
/// new limit is too long.
#[test]
fn text_lines_follow_a_new_limit() {
    for (rec, left) in both_modes(b"m\r\nab\r\ntoolong\r\n", b"\r\n") {
        assert_eq!(
            rec.events,
            [
                line(b"m"),
                line(b"ab"),
                Ev::TooLong(b"toolong\r\n".to_vec())
            ],
            "text: {}",
            rec.text
        );
        assert!(left.is_empty());
    }
}

/// A pause ends the batch; the lines after it wait in the buffer.
#[test]
fn text_lines_stop_at_a_pause() {
    for (rec, left) in both_modes(b"a\r\np\r\nb\r\n", b"\r\n") {
        assert_eq!(rec.events, [line(b"a"), line(b"p")], "text: {}", rec.text);
        assert_eq!(left, b"b\r\n");
    }
}

/// Lines that are not UTF-8 reach `line_received`, in their place among
/// the text lines; a character split between chunks is whole again.
#[test]
fn text_lines_and_byte_lines_in_order() {
    let input = b"a\xc3\xa9\r\n\xff\r\nb\r\n\xc3\r\n\xe2\x98\x83\r\n";
    let want = [&b"a\xc3\xa9"[..], b"\xff", b"b", b"\xc3", b"\xe2\x98\x83"].map(line);
    let rec = every_chunking(
        input,
        || LineProtocol::new(Rec::new().text()),
        |p, _| {
            (
                p.handler().events.clone(),
                p.handler().texts,
                p.handler().not_text.clone(),
            )
        },
    );
    assert_eq!(
        rec,
        (want.to_vec(), 3, vec![b"\xff".to_vec(), b"\xc3".to_vec()])
    );
}

/// A delimiter that is not UTF-8 itself: lines are still decoded one by
/// one (no batch can be cut safely at it).
#[test]
fn text_lines_with_a_delimiter_that_is_not_utf8() {
    let (mut p, st) = connected(LineProtocol::new(Rec::new().delimiter(b"\xff").text()));
    p.data_received(&st.transport(), b"a\xffb\xc3\xff\xa9\xff");
    let rec = p.handler();
    assert_eq!(rec.events, [line(b"a"), line(b"b\xc3"), line(b"\xa9")]);
    assert_eq!((rec.texts, rec.not_text.len()), (1, 2));
}

/// Text lines yield between lines when the turn is spent, as byte lines
/// do (`a_spent_turn_yields_between_lines`).
#[test]
fn text_lines_yield_between_lines() {
    let (mut p, st) = connected(LineProtocol::new(Rec::new().text()));
    st.set_should_yield(true);
    p.data_received(&st.transport(), b"a\r\nb\r\nc\r\npart");
    assert_eq!(p.handler().events, [line(b"a")]);
    assert_eq!((st.yields(), p.buffered()), (1, &b"b\r\nc\r\npart"[..]));
    p.data_received(&st.transport(), b"");
    assert_eq!(p.handler().events, [line(b"a"), line(b"b")]);
    st.set_should_yield(false);
    p.data_received(&st.transport(), b"");
    assert_eq!(p.handler().events, [line(b"a"), line(b"b"), line(b"c")]);
    assert_eq!((st.yields(), p.buffered()), (2, &b"part"[..]));
    assert_eq!(p.handler().texts, 3);
}
