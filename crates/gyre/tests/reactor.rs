//! The reactor's lifecycle on a real reactor: run / stop errors, system event
//! triggers and the startup / shutdown order, shutdown with open connections,
//! timed calls, calls from other threads, `LoopingCall`, and the log system
//! (reference §1.1–1.5, §1.7.4, §8.1).
//!
//! Every test runs its reactor on the test thread with a deadline
//! (`util::run_for`), except the waker test, which must have no timers at all
//! and is bounded by a watchdog connection instead.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gyre::{
    Address, ClientFactory, Completion, DelayedCall, DelayedCallError, Factory, LoopingCall, Phase,
    Protocol, Reactor, ReactorError, Reason, SystemEvent, Transport, for_protocol,
};
use util::{Events, SyncEvents, assert_in_order, capture_logs, loopback, run_for, texts};

const LIMIT: Duration = Duration::from_secs(5);
const ZERO: Duration = Duration::ZERO;

/// Records `what` in `events` and logs it, so it can be ordered against
/// the reactor's own log lines.
fn note(events: &Events, what: &str) {
    events.push(what);
    log::info!(target: "test", "{what}");
}

/// A trigger that notes `what` and does not delay the event.
fn noting(events: &Events, what: &'static str) -> impl FnMut() -> Option<Completion> + 'static {
    let events = events.clone();
    move || {
        note(&events, what);
        None
    }
}

/// A reactor with a trigger on every shutdown phase, each noting its name.
fn with_shutdown_triggers(reactor: &Reactor, events: &Events) {
    for (phase, name) in [
        (Phase::Before, "before shutdown"),
        (Phase::During, "during shutdown"),
        (Phase::After, "after shutdown"),
    ] {
        reactor.add_system_event_trigger(phase, SystemEvent::Shutdown, noting(events, name));
    }
}

/// Schedules `reactor.stop()` on the next pass.
fn stop_soon(reactor: &Reactor) {
    let r = reactor.clone();
    reactor.call_later(ZERO, move || r.stop().expect("running"));
}

// ----- run and stop -----

/// `stop` on a reactor that is not running is `NotRunning`, with Twisted's text.
#[test]
fn stop_before_run_is_not_running() {
    let reactor = Reactor::new().unwrap();
    let err = reactor.stop().unwrap_err();
    assert!(matches!(err, ReactorError::NotRunning), "{err:?}");
    assert_eq!(err.to_string(), "Can't stop reactor that isn't running.");
    assert!(!reactor.is_running());
}

/// A second `stop` while the first is pending is `NotRunning`, as is `stop` after the run.
#[test]
fn stop_twice_is_not_running() {
    let reactor = Reactor::new().unwrap();
    let second = Rc::new(RefCell::new(None));
    let (r, s) = (reactor.clone(), second.clone());
    reactor.call_when_running(move || {
        r.stop().expect("first stop");
        *s.borrow_mut() = Some(r.stop());
    });
    run_for(&reactor, LIMIT);
    let second = second.borrow_mut().take().expect("the callback ran");
    assert!(
        matches!(second, Err(ReactorError::NotRunning)),
        "{second:?}"
    );
    assert!(matches!(reactor.stop(), Err(ReactorError::NotRunning)));
    assert!(!reactor.is_running());
}

/// A reactor that has run and stopped cannot run again.
#[test]
fn run_after_finished_run_is_not_restartable() {
    let reactor = Reactor::new().unwrap();
    stop_soon(&reactor);
    run_for(&reactor, LIMIT);
    let again = reactor.run_without_signals();
    assert!(
        matches!(again, Err(ReactorError::NotRestartable)),
        "{again:?}"
    );
    let again = reactor.run();
    assert!(
        matches!(again, Err(ReactorError::NotRestartable)),
        "{again:?}"
    );
}

/// `run` from inside a running (or starting) reactor is `AlreadyRunning`.
#[test]
fn run_inside_run_is_already_running() {
    let reactor = Reactor::new().unwrap();
    let results = Rc::new(RefCell::new(Vec::new()));
    let (r, res) = (reactor.clone(), results.clone());
    reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, move || {
        res.borrow_mut().push(r.run_without_signals());
        None
    });
    let (r, res) = (reactor.clone(), results.clone());
    reactor.call_later(ZERO, move || {
        res.borrow_mut().push(r.run_without_signals());
        res.borrow_mut().push(r.run());
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
    let results = results.borrow();
    assert_eq!(results.len(), 3);
    for result in results.iter() {
        assert!(
            matches!(result, Err(ReactorError::AlreadyRunning)),
            "{result:?}"
        );
    }
}

// ----- system event triggers -----

/// Startup and shutdown run in the order the reference verified, a before-shutdown
/// completion holds the rest of the shutdown (a `stop` meanwhile is refused), and
/// `Main loop terminated.` comes last.
#[test]
fn startup_and_shutdown_follow_the_reference_order() {
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor.add_system_event_trigger(
        Phase::Before,
        SystemEvent::Startup,
        noting(&events, "before startup"),
    );
    reactor.add_system_event_trigger(
        Phase::During,
        SystemEvent::Startup,
        noting(&events, "during startup"),
    );
    reactor.add_system_event_trigger(
        Phase::After,
        SystemEvent::Startup,
        noting(&events, "after startup"),
    );
    let ev = events.clone();
    reactor.call_when_running(move || note(&ev, "callWhenRunning"));
    let ev = events.clone();
    reactor.call_later(ZERO, move || note(&ev, "callLater 0 #1"));
    let (ev, r) = (events.clone(), reactor.clone());
    reactor.call_later(ZERO, move || {
        note(&ev, "callLater 0 #2");
        r.stop().unwrap();
    });
    let (ev, r) = (events.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
        note(&ev, "before shutdown");
        let done = Completion::new();
        let (ev, d, r2) = (ev.clone(), done.clone(), r.clone());
        r.call_later(Duration::from_millis(200), move || {
            // Still stopping: a second stop is refused.
            let again = r2.stop();
            note(&ev, &format!("stop while stopping: {again:?}"));
            note(&ev, "before-shutdown completion fired");
            d.complete();
        });
        Some(done)
    });
    reactor.add_system_event_trigger(
        Phase::During,
        SystemEvent::Shutdown,
        noting(&events, "during shutdown"),
    );
    reactor.add_system_event_trigger(
        Phase::After,
        SystemEvent::Shutdown,
        noting(&events, "after shutdown"),
    );

    run_for(&reactor, LIMIT);

    let expected = [
        "before startup",
        "during startup",
        "after startup",
        "callWhenRunning",
        "callLater 0 #1",
        "callLater 0 #2",
        "before shutdown",
        "stop while stopping: Err(NotRunning)",
        "before-shutdown completion fired",
        "during shutdown",
        "after shutdown",
    ];
    assert_eq!(events.get(), expected);
    let lines = texts();
    let mut in_order: Vec<&str> = expected.to_vec();
    in_order.push("Main loop terminated.");
    assert_in_order(&lines, &in_order);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Main loop terminated."),
        "{lines:#?}"
    );
}

/// `is_running` is false in before-startup triggers and true from the
/// during-startup triggers on; it is false again once `run` returns.
#[test]
fn is_running_is_true_from_during_startup() {
    let reactor = Reactor::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    for (phase, name) in [
        (Phase::Before, "before"),
        (Phase::During, "during"),
        (Phase::After, "after"),
    ] {
        let (r, seen) = (reactor.clone(), seen.clone());
        reactor.add_system_event_trigger(phase, SystemEvent::Startup, move || {
            seen.borrow_mut().push((name, r.is_running()));
            None
        });
    }
    stop_soon(&reactor);
    assert!(!reactor.is_running());
    run_for(&reactor, LIMIT);
    assert_eq!(
        *seen.borrow(),
        [("before", false), ("during", true), ("after", true)]
    );
    assert!(!reactor.is_running());
}

/// `call_when_running` on a running reactor calls its function at once.
#[test]
fn call_when_running_while_running_is_synchronous() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let (ev, r) = (events.clone(), reactor.clone());
    reactor.call_later(ZERO, move || {
        ev.push("before");
        let ev2 = ev.clone();
        r.call_when_running(move || ev2.push("call_when_running"));
        ev.push("after");
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(events.get(), ["before", "call_when_running", "after"]);
}

/// A removed trigger does not run; removing it again, or removing one that
/// already ran, returns false.
#[test]
fn removed_trigger_does_not_run() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let removed = reactor.add_system_event_trigger(
        Phase::During,
        SystemEvent::Startup,
        noting(&events, "removed"),
    );
    let kept = reactor.add_system_event_trigger(
        Phase::During,
        SystemEvent::Startup,
        noting(&events, "kept"),
    );
    let removed_shutdown = reactor.add_system_event_trigger(
        Phase::Before,
        SystemEvent::Shutdown,
        noting(&events, "removed"),
    );
    assert!(reactor.remove_system_event_trigger(removed));
    assert!(!reactor.remove_system_event_trigger(removed));
    assert!(reactor.remove_system_event_trigger(removed_shutdown));
    stop_soon(&reactor);
    run_for(&reactor, LIMIT);
    assert_eq!(events.get(), ["kept"]);
    assert!(!reactor.remove_system_event_trigger(kept));
}

/// A trigger added to a phase while that phase runs is run in the same pass.
#[test]
fn trigger_added_during_its_phase_runs_in_the_same_pass() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let (ev, r) = (events.clone(), reactor.clone());
    reactor.add_system_event_trigger(Phase::During, SystemEvent::Startup, move || {
        ev.push("first during");
        r.add_system_event_trigger(
            Phase::During,
            SystemEvent::Startup,
            noting(&ev, "added during"),
        );
        None
    });
    reactor.add_system_event_trigger(Phase::After, SystemEvent::Startup, noting(&events, "after"));
    stop_soon(&reactor);
    run_for(&reactor, LIMIT);
    assert_eq!(events.get(), ["first during", "added during", "after"]);
}

/// A panicking trigger is logged as an unhandled error and the other
/// triggers, of its phase and of later phases, still run.
#[test]
fn panicking_trigger_is_logged_and_the_others_run() {
    util::expect_errors(&["startup trigger boom", "shutdown trigger boom"]);
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor.add_system_event_trigger(Phase::Before, SystemEvent::Startup, || {
        panic!("startup trigger boom")
    });
    reactor.add_system_event_trigger(
        Phase::Before,
        SystemEvent::Startup,
        noting(&events, "before startup"),
    );
    reactor.add_system_event_trigger(
        Phase::During,
        SystemEvent::Startup,
        noting(&events, "during startup"),
    );
    reactor.add_system_event_trigger(Phase::During, SystemEvent::Shutdown, || {
        panic!("shutdown trigger boom")
    });
    reactor.add_system_event_trigger(
        Phase::During,
        SystemEvent::Shutdown,
        noting(&events, "during shutdown"),
    );
    reactor.add_system_event_trigger(
        Phase::After,
        SystemEvent::Shutdown,
        noting(&events, "after shutdown"),
    );
    stop_soon(&reactor);
    run_for(&reactor, LIMIT);
    assert_eq!(
        events.get(),
        [
            "before startup",
            "during startup",
            "during shutdown",
            "after shutdown"
        ]
    );
    let errors: Vec<String> = util::logs()
        .into_iter()
        .filter(|l| l.level == log::Level::Error)
        .map(|l| l.text)
        .collect();
    assert_in_order(&errors, &["startup trigger boom", "shutdown trigger boom"]);
    for e in &errors {
        assert!(
            e.contains("While calling system event trigger handler"),
            "{e}"
        );
    }
    assert_eq!(
        texts().last().map(String::as_str),
        Some("Main loop terminated.")
    );
}

// ----- shutdown with open connections -----

/// A server protocol that notes how its connection ends.
struct Server {
    events: Events,
}

impl Protocol for Server {
    fn connection_lost(&mut self, reason: Reason) {
        let kind = if matches!(reason, Reason::Shutdown) {
            "shutdown"
        } else {
            "other"
        };
        log::info!(target: "test", "connection lost ({kind}): {reason}");
        self.events.push(format!("lost: {kind}"));
    }
}

/// Stops the reactor once `stop_after` connections were made.
struct ServerFactory {
    reactor: Reactor,
    events: Events,
    made: Cell<usize>,
    stop_after: usize,
}

impl Factory for ServerFactory {
    type Protocol = Server;

    fn build_protocol(&self, _: &Address) -> Option<Server> {
        self.made.set(self.made.get() + 1);
        if self.made.get() == self.stop_after {
            self.reactor.stop().unwrap();
        }
        Some(Server {
            events: self.events.clone(),
        })
    }
}

/// On stop, every open connection is lost with `Reason::Shutdown` after the
/// before-shutdown triggers, then the port closes and its factory stops, then
/// the during-shutdown triggers run; the peers see their connections closed.
#[test]
fn shutdown_loses_every_connection_then_closes_the_port() {
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let factory = ServerFactory {
        reactor: reactor.clone(),
        events: events.clone(),
        made: Cell::new(0),
        stop_after: 2,
    };
    let port = reactor.listen_tcp_with(0, factory, loopback()).unwrap();
    let addr = port.address();
    // The kernel completes both handshakes; the reactor accepts them once it runs.
    let clients: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    with_shutdown_triggers(&reactor, &events);

    run_for(&reactor, LIMIT);

    assert_eq!(
        events.get(),
        [
            "before shutdown",
            "lost: shutdown",
            "lost: shutdown",
            "during shutdown",
            "after shutdown"
        ]
    );
    let lines = texts();
    let reason = Reason::Shutdown.to_string();
    assert_eq!(
        reason,
        "Connection to the other side was lost in a non-clean fashion: Connection lost."
    );
    assert_in_order(
        &lines,
        &[
            "before shutdown",
            &format!("connection lost (shutdown): {reason}"),
            &format!("connection lost (shutdown): {reason}"),
            &format!("(TCP Port {} Closed)", addr.port()),
            "Stopping factory",
            "during shutdown",
            "after shutdown",
            "Main loop terminated.",
        ],
    );
    let lost_systems: Vec<String> = util::logs()
        .into_iter()
        .filter(|l| l.text.starts_with("connection lost"))
        .map(|l| l.system)
        .collect();
    assert_eq!(lost_systems, ["Server,0,127.0.0.1", "Server,1,127.0.0.1"]);
    assert!(!port.is_listening());
    for mut client in clients {
        client.set_read_timeout(Some(LIMIT)).unwrap();
        let mut buf = [0u8; 16];
        match client.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the client should see its connection closed, got {other:?}"),
        }
    }
}

// ----- timed calls -----

/// Calls scheduled with equal delays fire in the order they were scheduled.
#[test]
fn equal_delays_fire_in_scheduling_order() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    for i in 0..20 {
        let ev = events.clone();
        reactor.call_later(Duration::from_millis(5), move || ev.push(i.to_string()));
    }
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(5), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(events.get(), expected);
}

/// Calls moved to exactly the same deadline fire in the order they were moved there.
#[test]
fn identical_deadlines_fire_in_scheduling_order() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let calls: Vec<DelayedCall> = (0..8)
        .map(|i| {
            let ev = events.clone();
            reactor.call_later(ZERO, move || ev.push(i.to_string()))
        })
        .collect();
    let deadline = reactor.now() + Duration::from_millis(30);
    let moved = [5, 2, 7, 0, 3, 6, 1, 4];
    for &i in &moved {
        let call = &calls[i];
        call.delay(deadline - call.time()).unwrap();
        assert_eq!(call.time(), deadline);
    }
    let r = reactor.clone();
    let stopper = reactor.call_later(ZERO, move || r.stop().unwrap());
    stopper.delay(deadline - stopper.time()).unwrap();
    run_for(&reactor, LIMIT);
    let expected: Vec<String> = moved.iter().map(|i| i.to_string()).collect();
    assert_eq!(events.get(), expected);
}

/// A call scheduled with delay 0 from inside a timed call runs on the next
/// pass: a thread call queued at the same moment (which runs at the start of
/// the next pass) comes before it.
#[test]
fn zero_delay_call_from_a_timed_call_waits_for_the_next_pass() {
    let reactor = Reactor::new().unwrap();
    let order = SyncEvents::default();
    let (r, o) = (reactor.clone(), order.clone());
    reactor.call_later(ZERO, move || {
        o.push("timed call");
        let (r2, o2) = (r.clone(), o.clone());
        r.call_later(ZERO, move || {
            o2.push("zero-delay call scheduled by the timed call");
            r2.stop().unwrap();
        });
        let o3 = o.clone();
        let queued = r
            .thread_handle()
            .call_from_thread(move |_| o3.push("thread call"));
        o.push(format!("thread call queued: {queued}"));
    });
    run_for(&reactor, LIMIT);
    assert_eq!(
        order.get(),
        [
            "timed call",
            "thread call queued: true",
            "thread call",
            "zero-delay call scheduled by the timed call"
        ]
    );
}

/// Cancelling a cancelled call is `AlreadyCancelled`, as are `reset` and
/// `delay`; the function never runs.
#[test]
fn cancel_twice_is_already_cancelled() {
    let reactor = Reactor::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r2 = ran.clone();
    let call = reactor.call_later(Duration::from_millis(1), move || r2.set(true));
    assert!(call.is_active());
    call.cancel().unwrap();
    assert!(!call.is_active());
    let err = call.cancel().unwrap_err();
    assert_eq!(err, DelayedCallError::AlreadyCancelled);
    assert_eq!(
        err.to_string(),
        "Tried to cancel an already-cancelled event."
    );
    assert_eq!(call.reset(ZERO), Err(DelayedCallError::AlreadyCancelled));
    assert_eq!(call.delay(ZERO), Err(DelayedCallError::AlreadyCancelled));
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(20), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    assert!(!ran.get());
}

/// Cancelling a call after it ran, or from inside its own function (where it
/// is already inactive), is `AlreadyCalled`.
#[test]
fn cancel_after_run_is_already_called() {
    let reactor = Reactor::new().unwrap();
    let this: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
    let inside = Rc::new(RefCell::new(None));
    let (t, i, r) = (this.clone(), inside.clone(), reactor.clone());
    let call = reactor.call_later(ZERO, move || {
        let me = t.borrow().clone().expect("handle stored");
        *i.borrow_mut() = Some((me.is_active(), me.cancel()));
        r.stop().unwrap();
    });
    *this.borrow_mut() = Some(call.clone());
    run_for(&reactor, LIMIT);
    let inside = inside.borrow_mut().take().expect("the call ran");
    assert_eq!(inside, (false, Err(DelayedCallError::AlreadyCalled)));
    let err = call.cancel().unwrap_err();
    assert_eq!(err, DelayedCallError::AlreadyCalled);
    assert_eq!(err.to_string(), "Tried to cancel an already-called event.");
    assert_eq!(call.reset(ZERO), Err(DelayedCallError::AlreadyCalled));
    assert_eq!(call.delay(ZERO), Err(DelayedCallError::AlreadyCalled));
    assert!(!call.is_active());
}

/// `reset` moves a call to a new time from now and `delay` moves it later
/// than its scheduled time: x (150 ms, reset to 10 ms), y (50 ms, delayed by
/// 150 ms) and z (50 ms) run x, z, y.
#[test]
fn reset_and_delay_move_calls() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let schedule = |name: &'static str, ms: u64| {
        let ev = events.clone();
        reactor.call_later(Duration::from_millis(ms), move || ev.push(name))
    };
    let x = schedule("x", 150);
    let y = schedule("y", 50);
    let _z = schedule("z", 50);
    let before_reset = reactor.now();
    x.reset(Duration::from_millis(10)).unwrap();
    assert!(x.time() >= before_reset + Duration::from_millis(10));
    assert!(x.time() < before_reset + Duration::from_millis(150));
    let y_was = y.time();
    y.delay(Duration::from_millis(150)).unwrap();
    assert_eq!(y.time(), y_was + Duration::from_millis(150));
    let r = reactor.clone();
    let stopper = reactor.call_later(ZERO, move || r.stop().unwrap());
    stopper.delay(y.time() - stopper.time()).unwrap();
    run_for(&reactor, LIMIT);
    assert_eq!(events.get(), ["x", "z", "y"]);
}

/// A panicking timed call is logged (`while handling timed call`) and the
/// calls after it, in the same pass and later, still run.
#[test]
fn panicking_timed_call_is_logged_and_later_calls_run() {
    util::expect_errors(&["timed call boom"]);
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor.call_later(ZERO, || panic!("timed call boom"));
    let ev = events.clone();
    reactor.call_later(ZERO, move || ev.push("same pass"));
    let (ev, r) = (events.clone(), reactor.clone());
    reactor.call_later(Duration::from_millis(10), move || {
        ev.push("later");
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(events.get(), ["same pass", "later"]);
    let errors: Vec<util::Line> = util::logs()
        .into_iter()
        .filter(|l| l.level == log::Level::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].text.contains("while handling timed call"),
        "{errors:#?}"
    );
    assert!(errors[0].text.contains("timed call boom"), "{errors:#?}");
}

/// `pending_calls` lists the calls not yet run or cancelled, in firing order.
#[test]
fn pending_calls_lists_pending_ones() {
    let reactor = Reactor::new().unwrap();
    assert!(reactor.pending_calls().is_empty());
    let a = reactor.call_later(Duration::from_millis(30), || {});
    let seen_in_b = Rc::new(RefCell::new(None));
    let (s, r, a2) = (seen_in_b.clone(), reactor.clone(), a.clone());
    let b = reactor.call_later(Duration::from_millis(10), move || {
        let pending = r.pending_calls();
        *s.borrow_mut() = Some(pending.contains(&a2));
    });
    let c = reactor.call_later(Duration::from_millis(20), || {});
    assert_eq!(reactor.pending_calls(), [b.clone(), c.clone(), a.clone()]);
    c.cancel().unwrap();
    assert_eq!(reactor.pending_calls(), [b.clone(), a.clone()]);
    let (r, a3, gone) = (reactor.clone(), a.clone(), Rc::new(Cell::new(false)));
    let g = gone.clone();
    let stopper = reactor.call_later(Duration::from_millis(40), move || {
        g.set(!a3.is_active() && !r.pending_calls().contains(&a3));
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(*seen_in_b.borrow(), Some(true));
    assert!(gone.get(), "a call that ran is still listed");
    assert!(!a.is_active() && !b.is_active() && !stopper.is_active());
    assert!(reactor.pending_calls().is_empty());
}

// ----- calls from other threads -----

/// Calls from several threads all run on the reactor thread, in FIFO order per thread.
#[test]
fn thread_calls_run_on_the_reactor_thread_in_order() {
    const THREADS: usize = 4;
    const CALLS: usize = 200;
    let reactor = Reactor::new().unwrap();
    let reactor_thread = std::thread::current().id();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let workers = Rc::new(RefCell::new(Vec::new()));
    let handle = reactor.thread_handle();
    let (s, c, w) = (seen.clone(), count.clone(), workers.clone());
    reactor.call_when_running(move || {
        for t in 0..THREADS {
            let (handle, seen, count) = (handle.clone(), s.clone(), c.clone());
            w.borrow_mut().push(std::thread::spawn(move || {
                for i in 0..CALLS {
                    let (seen, count) = (seen.clone(), count.clone());
                    assert!(handle.call_from_thread(move |r| {
                        seen.lock()
                            .unwrap()
                            .push((t, i, std::thread::current().id()));
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == THREADS * CALLS {
                            r.stop().unwrap();
                        }
                    }));
                }
            }));
        }
    });
    run_for(&reactor, LIMIT);
    for worker in workers.borrow_mut().drain(..) {
        worker.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), THREADS * CALLS);
    assert!(seen.iter().all(|&(_, _, id)| id == reactor_thread));
    for t in 0..THREADS {
        let order: Vec<usize> = seen.iter().filter(|e| e.0 == t).map(|e| e.1).collect();
        assert_eq!(order, (0..CALLS).collect::<Vec<_>>(), "thread {t}");
    }
}

/// A thread call queued while the queue is being drained waits for the next
/// iteration: timed calls that are due run first.
#[test]
fn thread_call_queued_while_draining_waits_for_the_next_iteration() {
    let reactor = Reactor::new().unwrap();
    let order = SyncEvents::default();
    let handle = reactor.thread_handle();
    let (h, o) = (handle.clone(), order.clone());
    reactor.call_when_running(move || {
        let h2 = h.clone();
        let o1 = o.clone();
        h.call_from_thread(move |r| {
            o1.push("thread call 1");
            let o2 = o1.clone();
            h2.call_from_thread(move |r| {
                o2.push("thread call 2");
                r.stop().unwrap();
            });
            let o3 = o1.clone();
            r.call_later(ZERO, move || o3.push("timed call"));
        });
    });
    run_for(&reactor, LIMIT);
    assert_eq!(
        order.get(),
        ["thread call 1", "timed call", "thread call 2"]
    );
}

/// True once the thread `tid` is asleep in the kernel (in `epoll_wait`, when
/// the kernel says where it sleeps).
#[cfg(target_os = "linux")]
fn thread_is_polling(tid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    let wchan = std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default();
    state == Some('S') && (wchan == "0" || wchan.is_empty() || wchan.contains("poll"))
}

/// A thread call wakes a reactor that is blocked in poll with no timers at
/// all (only the waker can make it progress).
#[test]
fn thread_call_wakes_a_reactor_blocked_in_poll() {
    let reactor = Reactor::new().unwrap();
    // The watchdog: if the waker fails, a connection to this port wakes the
    // reactor instead, and the test fails.
    let watchdog_fired = Rc::new(Cell::new(false));
    let (fired, r) = (watchdog_fired.clone(), reactor.clone());
    struct Nothing;
    impl Protocol for Nothing {}
    let port = reactor
        .listen_tcp_with(
            0,
            for_protocol(move || {
                fired.set(true);
                let _ = r.stop();
                Nothing
            }),
            loopback(),
        )
        .unwrap();
    let addr = port.address();
    #[cfg(target_os = "linux")]
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let handle = reactor.thread_handle();
    let woke = Arc::new(AtomicBool::new(false));
    let (r, w) = (reactor.clone(), woke.clone());
    let worker = Rc::new(RefCell::new(None));
    let no_timers = Rc::new(Cell::new(false));
    let (wk, nt) = (worker.clone(), no_timers.clone());
    reactor.call_when_running(move || {
        // Recorded, not asserted: a panic here would leave no watchdog.
        nt.set(r.pending_calls().is_empty());
        let (done_tx, done_rx) = mpsc::channel();
        *wk.borrow_mut() = Some(std::thread::spawn(move || {
            #[cfg(target_os = "linux")]
            if let Some(tid) = tid {
                let until = Instant::now() + LIMIT;
                while !thread_is_polling(&tid) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            handle.call_from_thread(move |r| {
                w.store(true, Ordering::SeqCst);
                r.stop().unwrap();
                let _ = done_tx.send(());
            });
            if done_rx.recv_timeout(LIMIT).is_err() {
                let _ = TcpStream::connect(addr);
            }
        }));
    });
    util::run_without_timers(&reactor);
    if let Some(worker) = worker.borrow_mut().take() {
        worker.join().unwrap();
    }
    assert!(no_timers.get(), "this test needs a reactor with no timers");
    assert!(
        !watchdog_fired.get(),
        "the thread call did not wake the reactor"
    );
    assert!(woke.load(Ordering::SeqCst));
}

/// `ThreadHandle::stop` from another thread stops the reactor with the full shutdown.
#[test]
fn thread_handle_stop_stops_the_reactor() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    with_shutdown_triggers(&reactor, &events);
    let handle = reactor.thread_handle();
    let worker = Rc::new(RefCell::new(None));
    let w = worker.clone();
    reactor.call_when_running(move || {
        *w.borrow_mut() = Some(std::thread::spawn(move || handle.stop()));
    });
    run_for(&reactor, LIMIT);
    let accepted = worker.borrow_mut().take().expect("spawned").join().unwrap();
    assert!(accepted);
    assert_eq!(
        events.get(),
        ["before shutdown", "during shutdown", "after shutdown"]
    );
}

/// Once the reactor has finished, `call_from_thread` and `stop` return false,
/// from any thread, and the function is not run.
#[test]
fn thread_call_after_the_reactor_finished_returns_false() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.thread_handle();
    stop_soon(&reactor);
    run_for(&reactor, LIMIT);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    assert!(!handle.call_from_thread(move |_| r.store(true, Ordering::SeqCst)));
    assert!(!handle.stop());
    let h = handle.clone();
    let from_thread = std::thread::spawn(move || h.call_from_thread(|_| {}))
        .join()
        .unwrap();
    assert!(!from_thread);
    assert!(!ran.load(Ordering::SeqCst));
}

/// A panicking thread call is logged (`while calling from thread`) and the
/// calls queued after it still run.
#[test]
fn panicking_thread_call_is_logged_and_later_calls_run() {
    util::expect_errors(&["thread call boom"]);
    let reactor = Reactor::new().unwrap();
    let handle = reactor.thread_handle();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    std::thread::spawn(move || {
        handle.call_from_thread(|_| panic!("thread call boom"));
        handle.call_from_thread(move |reactor| {
            r.store(true, Ordering::SeqCst);
            reactor.stop().unwrap();
        });
    })
    .join()
    .unwrap();
    run_for(&reactor, LIMIT);
    assert!(ran.load(Ordering::SeqCst));
    let errors: Vec<String> = util::logs()
        .into_iter()
        .filter(|l| l.level == log::Level::Error)
        .map(|l| l.text)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("while calling from thread"),
        "{errors:#?}"
    );
    assert!(errors[0].contains("thread call boom"), "{errors:#?}");
}

// ----- LoopingCall -----

/// A `LoopingCall` on the reactor calls its function every interval until
/// stopped, then not again; its completion fires on stop.
#[test]
fn looping_call_runs_every_interval_until_stopped() {
    const INTERVAL: Duration = Duration::from_millis(20);
    let reactor = Reactor::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let handle: Rc<RefCell<Option<LoopingCall>>> = Rc::default();
    let (c, h) = (count.clone(), handle.clone());
    let looping = LoopingCall::new(&reactor, move || {
        c.set(c.get() + 1);
        if c.get() == 5 {
            let me = h.borrow_mut().take().expect("handle stored");
            me.stop().unwrap();
        }
    });
    *handle.borrow_mut() = Some(looping.clone());
    let started = Instant::now();
    let stopped_at = Rc::new(Cell::new(None));
    let (r, s) = (reactor.clone(), stopped_at.clone());
    let done = looping.start(INTERVAL, true).unwrap();
    assert_eq!(count.get(), 1, "now=true calls at once");
    done.on_complete(move || {
        s.set(Some(Instant::now()));
        // Wait three more intervals to see that nothing more runs.
        let r2 = r.clone();
        r.call_later(INTERVAL * 3, move || r2.stop().unwrap());
    });
    run_for(&reactor, LIMIT);
    assert_eq!(count.get(), 5);
    assert!(!looping.is_running());
    assert!(looping.failure().is_none());
    let stopped_at = stopped_at.get().expect("the completion fired");
    assert!(
        stopped_at - started >= INTERVAL * 4,
        "calls ran early: {:?}",
        stopped_at - started
    );
}

/// A `LoopingCall` whose function panics on the reactor stops, and the
/// panic goes no further (no `while handling timed call` line: the call due
/// next still runs); its completion, dropped unread, logs the failure as
/// Twisted logs a loop Deferred nobody handled.
#[test]
fn looping_call_panic_stays_in_its_completion() {
    capture_logs();
    // The dropped completion logs the failure nobody read: that line is
    // what this test checks for.
    util::expect_errors(&["Unhandled error in Completion"]);
    let reactor = Reactor::new().unwrap();
    let looping = LoopingCall::new(&reactor, || panic!("loop boom"));
    drop(looping.start(Duration::from_millis(10), false).unwrap());
    // Due just after the loop's first call, so it runs right after it.
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(10), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    assert!(!looping.is_running());
    let lines = texts();
    assert!(
        !lines
            .iter()
            .any(|t| t.contains("while handling timed call")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|t| t.starts_with("Unhandled error in Completion:") && t.contains("loop boom")),
        "{lines:#?}"
    );
}

// ----- log system -----

/// An echo server that logs what it sees.
struct Echo;

impl Protocol for Echo {
    fn connection_made(&mut self, _: &Transport) {
        log::info!(target: "test", "server connection made");
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        log::info!(target: "test", "server got {}", String::from_utf8_lossy(data));
        transport.write(data);
    }
}

struct EchoFactory;

impl Factory for EchoFactory {
    type Protocol = Echo;

    fn build_protocol(&self, _: &Address) -> Option<Echo> {
        Some(Echo)
    }
}

/// A client that sends `ping` and stops the reactor when it comes back.
struct Client {
    reactor: Reactor,
}

impl Protocol for Client {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"ping");
    }

    fn data_received(&mut self, _: &Transport, data: &[u8]) {
        log::info!(target: "test", "client got {}", String::from_utf8_lossy(data));
        let r = self.reactor.clone();
        self.reactor.call_later(ZERO, move || {
            log::info!(target: "test", "from a timed call");
            r.stop().unwrap();
        });
    }
}

struct PingFactory {
    reactor: Reactor,
}

impl Factory for PingFactory {
    type Protocol = Client;

    fn build_protocol(&self, _: &Address) -> Option<Client> {
        Some(Client {
            reactor: self.reactor.clone(),
        })
    }
}

impl ClientFactory for PingFactory {}

/// Lines logged while the reactor dispatches for a connection carry its log
/// prefix as their system (`Echo,0,127.0.0.1`, `Client,client`; the port's
/// factory for a server's `connection_made`), and `-` outside any dispatch.
#[test]
fn log_system_names_the_connection_being_dispatched() {
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let port = reactor.listen_tcp_with(0, EchoFactory, loopback()).unwrap();
    let addr = port.address();
    reactor.connect_tcp(
        "127.0.0.1",
        addr.port(),
        PingFactory {
            reactor: reactor.clone(),
        },
    );
    let handle = reactor.thread_handle();
    std::thread::spawn(move || {
        handle.call_from_thread(|_| log::info!(target: "test", "from a thread call"));
    })
    .join()
    .unwrap();
    run_for(&reactor, LIMIT);
    log::info!(target: "test", "after the run");

    let system_of = |text: &str| -> String {
        let lines = util::logs();
        let line = lines.iter().find(|l| l.text.starts_with(text));
        line.unwrap_or_else(|| panic!("no line {text:?} in {lines:#?}"))
            .system
            .clone()
    };
    assert_eq!(
        system_of("server connection made"),
        std::any::type_name::<EchoFactory>()
    );
    assert_eq!(system_of("server got ping"), "Echo,0,127.0.0.1");
    assert_eq!(system_of("client got ping"), "Client,client");
    assert_eq!(system_of("from a timed call"), "-");
    assert_eq!(system_of("from a thread call"), "-");
    assert_eq!(system_of("after the run"), "-");
    assert_eq!(gyre::log::system(), "-");
}
