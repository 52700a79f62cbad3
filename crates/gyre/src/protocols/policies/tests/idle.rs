//! The idle timeout: [`IdleTimeout`], [`IdleTimer`] and [`TimeoutFactory`].

use super::*;

struct Setup {
    clock: VirtualClock,
    st: StringTransport,
    protocol: IdleTimeout<Recorder>,
    events: Events,
}

/// A connected `Recorder` under a 10 s idle timeout; its timer handle is
/// given to it.
fn connected() -> Setup {
    let clock = VirtualClock::new();
    let events = Events::default();
    let mut protocol = IdleTimeout::new_with(&clock, secs(10), |timer| {
        let mut r = Recorder::new(&events);
        r.timer = Some(timer);
        r
    });
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    Setup {
        clock,
        st,
        protocol,
        events,
    }
}

/// With no traffic the connection is closed exactly `timeout` after it
/// was made, and no call is left on the clock.
#[test]
fn fires_at_exactly_the_timeout() {
    let s = connected();
    let timer = s.protocol.timer();
    assert!(timer.is_armed());
    assert_eq!(timer.deadline(), Some(s.clock.now() + secs(10)));
    assert_eq!(s.clock.pending_calls().len(), 1);
    s.clock.advance(ms(9_999));
    assert!(!s.st.is_disconnecting());
    s.clock.advance(ms(1));
    assert!(s.st.is_disconnecting());
    assert!(!s.st.is_aborted());
    assert!(!timer.is_armed());
    assert!(s.clock.pending_calls().is_empty());
}

/// The timer does not run before `connection_made`; a timeout set
/// before then is what the connection starts with.
#[test]
fn nothing_is_scheduled_before_connection_made() {
    let clock = VirtualClock::new();
    let mut protocol = IdleTimeout::new(&clock, Recorder::new(&Events::default()), secs(10));
    let timer = protocol.timer();
    timer.set_timeout(Some(secs(2)));
    timer.reset_timeout();
    assert!(clock.pending_calls().is_empty());
    assert!(!timer.is_armed());
    clock.advance(secs(60));
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    assert_eq!(timer.timeout(), Some(secs(2)));
    clock.advance(ms(1_999));
    assert!(!st.is_disconnecting());
    clock.advance(ms(1));
    assert!(st.is_disconnecting());
}

/// Each chunk received restarts the countdown from a full timeout; the
/// wrapped protocol gets the same transport handle every time.
#[test]
fn received_data_pushes_the_timer_back() {
    let mut s = connected();
    s.clock.advance(secs(6));
    s.protocol.data_received(&s.st.transport(), b"a");
    s.clock.advance(secs(6));
    s.protocol.data_received(&s.st.transport(), b"b");
    s.clock.advance(ms(9_999));
    assert!(!s.st.is_disconnecting());
    s.clock.advance(ms(1));
    assert!(s.st.is_disconnecting());
    assert_eq!(
        s.events.get(),
        ["made", "data a same=true", "data b same=true"]
    );
}

/// Writes through the wrapped protocol's transport (kept and used
/// later, as a timer or another connection would) restart the countdown
/// and reach the real transport.
#[test]
fn writes_push_the_timer_back() {
    let s = connected();
    let kept = s.protocol.inner().transport.clone().expect("made");
    s.clock.advance(secs(6));
    kept.write(b"one ");
    s.clock.advance(secs(6));
    kept.write_sequence(&[b"two", b" three"]);
    assert_eq!(
        s.protocol.timer().deadline(),
        Some(s.clock.now() + secs(10))
    );
    s.clock.advance(ms(9_999));
    assert!(!s.st.is_disconnecting());
    s.clock.advance(ms(1));
    assert!(s.st.is_disconnecting());
    assert_eq!(s.st.value(), b"one two three");
    // The real transport's handle does not count: only the wrapped one does.
    assert!(!kept.same_as(&s.st.transport()));
}

/// `set_timeout(None)` from inside the protocol disables the timer:
/// nothing pending, nothing fires, traffic does not re-arm it.
#[test]
fn set_timeout_none_disables() {
    let mut s = connected();
    s.clock.advance(secs(9));
    s.protocol.data_received(&s.st.transport(), b"off");
    assert!(s.clock.pending_calls().is_empty());
    s.protocol.data_received(&s.st.transport(), b"more");
    s.protocol.inner().transport.as_ref().unwrap().write(b"x");
    assert!(s.clock.pending_calls().is_empty());
    s.clock.advance(secs(3600));
    assert!(!s.st.is_disconnecting());
    assert_eq!(s.protocol.timer().timeout(), None);
}

/// A disabled timer is re-armed by `set_timeout(Some(..))`, counted from
/// then; setting a shorter timeout while armed moves the expiry earlier.
#[test]
fn set_timeout_some_rearms() {
    let mut s = connected();
    s.protocol.data_received(&s.st.transport(), b"off");
    s.clock.advance(secs(100));
    s.protocol.data_received(&s.st.transport(), b"on"); // 5 s from now
    s.clock.advance(ms(4_999));
    assert!(!s.st.is_disconnecting());
    s.clock.advance(ms(1));
    assert!(s.st.is_disconnecting());

    let s = connected();
    let timer = s.protocol.timer();
    s.clock.advance(secs(2));
    timer.set_timeout(Some(secs(3)));
    assert_eq!(s.clock.pending_calls().len(), 1);
    s.clock.advance(ms(2_999));
    assert!(!s.st.is_disconnecting());
    s.clock.advance(ms(1));
    assert!(s.st.is_disconnecting());
}

/// A hook replaces the close. A hook that writes restarts the timer by
/// that write; one that does not leaves it disarmed until traffic or
/// `reset_timeout` arms it again.
#[test]
fn the_hook_runs_instead_of_closing() {
    let s = connected();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    let protocol = s.protocol.with_on_timeout(move |t| {
        seen.set(seen.get() + 1);
        t.write(b"are you there?\r\n");
    });
    s.clock.advance(secs(10));
    assert_eq!(calls.get(), 1);
    assert!(!s.st.is_disconnecting());
    assert_eq!(s.st.value(), b"are you there?\r\n");
    assert!(protocol.timer().is_armed());
    s.clock.advance(secs(10));
    assert_eq!(calls.get(), 2);

    let mut s = connected();
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    s.protocol = s
        .protocol
        .with_on_timeout(move |_| seen.set(seen.get() + 1));
    s.clock.advance(secs(10));
    assert_eq!(calls.get(), 1);
    assert!(!s.st.is_disconnecting());
    assert!(s.clock.pending_calls().is_empty());
    s.protocol.data_received(&s.st.transport(), b"back");
    s.clock.advance(secs(10));
    assert_eq!(calls.get(), 2);
    s.protocol.timer().reset_timeout();
    s.clock.advance(secs(10));
    assert_eq!(calls.get(), 3);
    assert!(!s.st.is_disconnecting());
}

/// A panicking hook is contained: the advance returns, that connection
/// is closed as by default, another connection's timer is untouched.
#[test]
fn a_panicking_hook_closes_only_its_connection() {
    let s = connected();
    let _protocol = s.protocol.with_on_timeout(|_| panic!("hook failed"));
    let mut other = IdleTimeout::new(&s.clock, Recorder::new(&Events::default()), secs(20));
    let other_st = StringTransport::new();
    other_st.make_connection(&mut other);
    s.clock.advance(secs(10));
    assert!(s.st.is_disconnecting());
    assert!(!other_st.is_disconnecting());
    assert!(other.timer().is_armed());
    s.clock.advance(secs(10));
    assert!(other_st.is_disconnecting());
}

/// `connection_lost` cancels the timer and reaches the wrapped protocol;
/// the handle can no longer arm anything.
#[test]
fn connection_lost_cancels_the_timer() {
    let mut s = connected();
    let timer = s.protocol.timer();
    s.clock.advance(secs(5));
    s.protocol.connection_lost(Reason::Done);
    assert!(s.clock.pending_calls().is_empty());
    timer.set_timeout(Some(secs(1)));
    timer.reset_timeout();
    assert!(s.clock.pending_calls().is_empty());
    s.clock.advance(secs(60));
    assert!(!s.st.is_disconnecting());
    assert_eq!(s.events.get(), ["made", "lost true"]);
}

/// A wrapper dropped without `connection_lost` leaves nothing pending.
#[test]
fn dropping_the_wrapper_cancels_the_timer() {
    let s = connected();
    let timer = s.protocol.timer();
    drop(s.protocol);
    assert!(s.clock.pending_calls().is_empty());
    timer.reset_timeout();
    assert!(s.clock.pending_calls().is_empty());
}

/// Half-close events and the log prefix pass through; the wrapped
/// protocol gets its own transport handle there too.
#[test]
fn other_events_pass_through() {
    let mut s = connected();
    assert!(s.protocol.half_closeable());
    assert_eq!(s.protocol.log_prefix(), "Recorder");
    s.protocol.read_connection_lost(&s.st.transport());
    assert_eq!(s.events.get(), ["made", "read lost same=true"]);
    assert!(format!("{:?}", s.protocol).starts_with(
        "ProtocolWrapper { inner: \"Recorder\", wrapper: IdleWatch { timer: IdleTimer {"
    ));
}

/// Every protocol a `TimeoutFactory` builds times out on its own; the
/// wrapped factory is started and stopped through it, and its refusal
/// passes through.
#[test]
fn timeout_factory_wraps_every_protocol() {
    let clock = VirtualClock::new();
    let events = Events::default();
    let factory = Shared::new(TimeoutFactory::new(
        &clock,
        Recorders {
            events: events.clone(),
            refuse: false,
        },
        secs(5),
    ));
    factory.do_start();
    assert_eq!(factory.timeout(), secs(5));
    let mut quiet = factory.build_protocol(&addr("1.2.3.4:5")).unwrap();
    let mut chatty = factory.build_protocol(&addr("1.2.3.4:6")).unwrap();
    let (q, c) = (StringTransport::new(), StringTransport::new());
    q.make_connection(&mut quiet);
    c.make_connection(&mut chatty);
    clock.advance(secs(3));
    chatty.data_received(&c.transport(), b"hi");
    clock.advance(secs(2));
    assert!(q.is_disconnecting());
    assert!(!c.is_disconnecting());
    clock.advance(secs(3));
    assert!(c.is_disconnecting());
    factory.do_stop();
    assert_eq!(
        events.get(),
        ["start", "made", "made", "data hi same=true", "stop"]
    );

    let refusing = TimeoutFactory::new(
        &clock,
        Recorders {
            events: Events::default(),
            refuse: true,
        },
        secs(5),
    );
    assert!(refusing.build_protocol(&addr("1.2.3.4:5")).is_none());
    assert!(clock.pending_calls().is_empty());
}
