//! Child processes: the callback order checked against Twisted itself
//! (`tests/interop/twisted_process.py`), exit codes and signals with
//! Twisted's texts, the environment rule, back-pressure on stdin, a child
//! that exits before reading, the SIGCHLD fallback, a child outliving its
//! reactor. (A thousand children in a row, counting descriptors and
//! zombies, is `tests/process_many.rs`: it needs a process of its own.)
//!
//! Without the Twisted venv the comparisons fail, never skip
//! (`$GYRE_TWISTED_PYTHON`, else `<repo>/.venv/bin/python`).

mod util;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use gyre::process::{Env, ExitReason, ProcessProtocol, ProcessTransport, SignalError, SpawnError};
use gyre::{Producer, PushProducer, Reactor};
use util::{Events, run_for};

const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The Twisted side

fn twisted_python() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/gyre is two levels down");
    let candidates: Vec<PathBuf> = std::env::var_os("GYRE_TWISTED_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo.join(".venv/bin/python")])
        .collect();
    for c in &candidates {
        let ok = Command::new(c)
            .args(["-c", "import twisted.internet.process"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return c.clone();
        }
    }
    panic!("Twisted venv missing: run scripts/setup-twisted-venv (tried {candidates:?})");
}

/// What `twisted_process.py MODE` printed.
fn twisted(mode: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/twisted_process.py");
    let out = Command::new(twisted_python())
        .arg(script)
        .arg(mode)
        .stdin(Stdio::null())
        .output()
        .expect("run the Twisted side");
    assert!(
        out.status.success(),
        "twisted_process.py {mode}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// The gyre side

type Hook = Box<dyn FnMut(&str, &ProcessTransport)>;

/// Records every callback as the Python side prints it; stops the
/// reactor at `process_ended`. `hook` runs after each record with its
/// name (the transport is the one `connection_made` got).
struct Record {
    reactor: Reactor,
    events: Events,
    transport: Option<ProcessTransport>,
    hook: Hook,
}

impl Record {
    fn new(
        reactor: &Reactor,
        events: &Events,
        hook: impl FnMut(&str, &ProcessTransport) + 'static,
    ) -> Record {
        Record {
            reactor: reactor.clone(),
            events: events.clone(),
            transport: None,
            hook: Box::new(hook),
        }
    }

    fn note(&mut self, name: &str, line: String) {
        self.events.push(line);
        if let Some(t) = self.transport.clone() {
            (self.hook)(name, &t);
        }
    }
}

/// Python's `repr` of a byte string of printable ASCII and newlines.
fn py_repr(data: &[u8]) -> String {
    let mut s = String::from("b'");
    for &b in data {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\'' => s.push_str("\\'"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('\'');
    s
}

impl ProcessProtocol for Record {
    fn connection_made(&mut self, t: &ProcessTransport) {
        self.transport = Some(t.clone());
        self.note("connection_made", "connection_made".into());
    }
    fn child_data_received(&mut self, t: &ProcessTransport, fd: u32, data: &[u8]) {
        match fd {
            1 => self.out_received(t, data),
            2 => self.err_received(t, data),
            _ => self.note(
                "child_data_received",
                format!("child_data_received {fd} {}", py_repr(data)),
            ),
        }
    }
    fn child_connection_lost(&mut self, fd: u32) {
        match fd {
            0 => self.in_connection_lost(),
            1 => self.out_connection_lost(),
            2 => self.err_connection_lost(),
            _ => self.note(
                "child_connection_lost",
                format!("child_connection_lost {fd}"),
            ),
        }
    }
    fn out_received(&mut self, _: &ProcessTransport, data: &[u8]) {
        self.note("out_received", format!("out_received {}", py_repr(data)));
    }
    fn err_received(&mut self, _: &ProcessTransport, data: &[u8]) {
        self.note("err_received", format!("err_received {}", py_repr(data)));
    }
    fn in_connection_lost(&mut self) {
        self.note("in_connection_lost", "in_connection_lost".into());
    }
    fn out_connection_lost(&mut self) {
        self.note("out_connection_lost", "out_connection_lost".into());
    }
    fn err_connection_lost(&mut self) {
        self.note("err_connection_lost", "err_connection_lost".into());
    }
    fn process_exited(&mut self, reason: ExitReason) {
        self.note("process_exited", format!("process_exited {reason}"));
    }
    fn process_ended(&mut self, reason: ExitReason) {
        self.note("process_ended", format!("process_ended {reason}"));
        let _ = self.reactor.stop();
    }
}

/// Runs `sh -c SCRIPT` under a [`Record`] and returns its records.
fn gyre_sh(script: &str, hook: impl FnMut(&str, &ProcessTransport) + 'static) -> Vec<String> {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor
        .spawn_process(
            Record::new(&reactor, &events, hook),
            "/bin/sh",
            ["sh", "-c", script],
            Env::Inherit,
            None,
        )
        .expect("spawn sh");
    run_for(&reactor, LIMIT);
    events.get()
}

/// The records without those of the pipes other than `keep`, and without
/// `process_exited`: the order between different pipes' events is the
/// OS's (reference §1.11), and so is that of the exit against the pipes'
/// closing (Twisted itself hears the exit of `sh -c 'exit 0'` before or
/// after its pipes close, from run to run).
fn only_pipe(records: &[String], keep: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| !r.starts_with("process_exited") && pipe_of(r).is_none_or(|pipe| pipe == keep))
        .cloned()
        .collect()
}

/// The pipe a record is about: `in_`, `out_`, `err_`, or `fd3` and so on
/// for descriptors 3 and up; `None` for the process's own records.
fn pipe_of(record: &str) -> Option<String> {
    if let Some(p) = ["in_", "out_", "err_"]
        .iter()
        .find(|p| record.starts_with(**p))
    {
        return Some(p.to_string());
    }
    let rest = record
        .strip_prefix("child_data_received ")
        .or_else(|| record.strip_prefix("child_connection_lost "))?;
    Some(format!("fd{}", rest.split(' ').next().unwrap_or_default()))
}

/// Each pipe's events in Twisted's order between `connection_made` and
/// `process_ended`, the same `process_exited` record, and the exit
/// before the end.
#[track_caller]
fn assert_same_as_twisted(mode: &str, gyre: &[String], twisted: &[String]) {
    assert!(!twisted.is_empty(), "{mode}: no records from Twisted");
    let mut pipes: Vec<String> = ["in_", "out_", "err_"].map(String::from).into();
    for r in gyre.iter().chain(twisted) {
        if let Some(p) = pipe_of(r)
            && !pipes.contains(&p)
        {
            pipes.push(p);
        }
    }
    for pipe in &pipes {
        assert_eq!(
            only_pipe(gyre, pipe),
            only_pipe(twisted, pipe),
            "{mode}, seen from {pipe}: gyre {gyre:#?}\nTwisted {twisted:#?}"
        );
    }
    let exited = |records: &[String]| {
        records
            .iter()
            .position(|r| r.starts_with("process_exited"))
            .map(|at| (at, records[at].clone()))
    };
    let (ours, theirs) = (exited(gyre), exited(twisted));
    assert_eq!(
        ours.as_ref().map(|(_, r)| r),
        theirs.as_ref().map(|(_, r)| r),
        "{mode}: process_exited"
    );
    let at = ours.map_or(0, |(at, _)| at);
    assert!(
        0 < at && at < gyre.len() - 1,
        "{mode}: exit after the start, before the end: {gyre:#?}"
    );
}

/// `sh -c 'cat; echo E >&2; exit 3'`, "hello" written and stdin closed in
/// `connection_made`: the order Twisted gives (stdin lost first, output,
/// each pipe's loss, then the exit and the end, exit code 3).
#[test]
fn callback_order_matches_twisted() {
    let theirs = twisted("order");
    let ours = gyre_sh("cat; echo E >&2; exit 3", |name, t| {
        if name == "connection_made" {
            t.write(b"hello");
            t.close_stdin();
        }
    });
    assert_same_as_twisted("order", &ours, &theirs);
    assert_eq!(ours[1], theirs[1], "stdin is lost first: {ours:#?}");
    assert_eq!(ours[1], "in_connection_lost");
}

/// A child killing itself with SIGTERM: `process ended by signal 15.`
#[test]
fn killed_by_a_signal_matches_twisted() {
    let theirs = twisted("signal");
    let ours = gyre_sh("kill -TERM $$", |_, _| {});
    assert_same_as_twisted("signal", &ours, &theirs);
}

/// Exit code 0: `ProcessDone`'s text.
#[test]
fn exit_zero_matches_twisted() {
    let theirs = twisted("early");
    let ours = gyre_sh("exit 0", |_, _| {});
    assert_same_as_twisted("early", &ours, &theirs);
}

/// The SIGCHLD way of noticing an exit (kernels without pidfds) gives the
/// same records.
#[test]
fn the_sigchld_fallback_gives_the_same_records() {
    gyre::process::force_sigchld(true);
    let ours = gyre_sh("cat; echo E >&2; exit 3", |name, t| {
        if name == "connection_made" {
            t.write(b"hello");
            t.close_stdin();
        }
    });
    gyre::process::force_sigchld(false);
    let last = ours.last().cloned().unwrap_or_default();
    assert_eq!(
        last,
        "process_ended A process has ended with a probable error condition: process ended with exit code 3."
    );
    assert!(
        ours.contains(&"out_received b'hello'".to_string()),
        "{ours:#?}"
    );
}

/// `signal_process` by name and by number; after the exit it is
/// `ExitedAlready`; an unknown name is refused.
#[test]
fn signal_process_by_name_and_number() {
    for (signal, number) in [("KILL", 9), ("INT", 2), ("15", 15)] {
        let after: Rc<RefCell<Option<String>>> = Rc::default();
        let before: Rc<RefCell<Vec<String>>> = Rc::default();
        let (seen, sending) = (after.clone(), before.clone());
        // A child inherits ignored signals (see the process module's docs),
        // and the test may itself run with SIGINT ignored, as a background
        // job of a script does (CI): the child resets every signal with
        // `env --default-signal` and says so before it is signalled.
        let records = gyre_sh(
            "exec env --default-signal sh -c 'echo ready; exec sleep 30'",
            move |name, t| match name {
                "out_received" => {
                    // Recorded here, checked after the run.
                    let sent = match signal.parse::<i32>() {
                        Ok(n) => t.signal_process(n),
                        Err(_) => t.signal_process(signal),
                    };
                    sending.borrow_mut().push(format!("{sent:?}"));
                    let unknown = matches!(t.signal_process("NOPE"), Err(SignalError::Unknown(_)));
                    sending
                        .borrow_mut()
                        .push(format!("NOPE unknown: {unknown}"));
                }
                "process_exited" => {
                    *seen.borrow_mut() = Some(match t.signal_process("TERM") {
                        Err(SignalError::ExitedAlready) => "exited already".into(),
                        other => format!("{other:?}"),
                    });
                }
                _ => {}
            },
        );
        assert_eq!(
            records.last().unwrap(),
            &format!(
                "process_ended A process has ended with a probable error condition: process ended by signal {number}."
            )
        );
        assert_eq!(after.borrow().as_deref(), Some("exited already"));
        assert_eq!(*before.borrow(), ["Ok(())", "NOPE unknown: true"]);
    }
}

/// The environment rule: an empty set is an empty environment,
/// `Env::exactly` gives just those variables, `Env::Inherit` passes the
/// parent's (`PATH` here); `path` is the working directory.
#[test]
fn environment_and_working_directory() {
    fn output(env: Env, program: &str, args: &[&str], path: Option<&Path>) -> String {
        let reactor = Reactor::new().unwrap();
        let out: Rc<RefCell<Vec<u8>>> = Rc::default();
        struct Collect(Reactor, Rc<RefCell<Vec<u8>>>);
        impl ProcessProtocol for Collect {
            fn out_received(&mut self, _: &ProcessTransport, data: &[u8]) {
                self.1.borrow_mut().extend_from_slice(data);
            }
            fn process_ended(&mut self, _: ExitReason) {
                let _ = self.0.stop();
            }
        }
        reactor
            .spawn_process(
                Collect(reactor.clone(), out.clone()),
                program,
                args,
                env,
                path,
            )
            .unwrap();
        run_for(&reactor, LIMIT);
        String::from_utf8(out.take()).unwrap()
    }
    assert_eq!(output(Env::empty(), "/usr/bin/env", &["env"], None), "");
    assert_eq!(
        output(
            Env::exactly([("A", "1"), ("B", "two")]),
            "/usr/bin/env",
            &["env"],
            None
        ),
        "A=1\nB=two\n"
    );
    let inherited = output(Env::Inherit, "/usr/bin/env", &["env"], None);
    let path = std::env::var("PATH").unwrap();
    assert!(
        inherited.lines().any(|l| l == format!("PATH={path}")),
        "{inherited}"
    );
    assert_eq!(
        output(Env::Inherit, "/bin/pwd", &["pwd"], Some(Path::new("/"))),
        "/\n"
    );
    // argv[0] is the first argument, as in Twisted.
    assert_eq!(
        output(
            Env::Inherit,
            "/bin/sh",
            &["custom-name", "-c", "echo $0"],
            None
        ),
        "custom-name\n"
    );
}

/// A program that does not exist: a typed error naming it, no protocol
/// call, nothing left behind.
#[test]
fn a_missing_program_is_an_error() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let err = reactor
        .spawn_process(
            Record::new(&reactor, &events, |_, _| {}),
            "/nonexistent/program",
            ["program"],
            Env::Inherit,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, SpawnError::Exec { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot run /nonexistent/program: No such file or directory"
    );
    assert!(events.get().is_empty());
    let err = reactor
        .spawn_process(
            Record::new(&reactor, &events, |_, _| {}),
            "/bin/true",
            ["true"],
            Env::Inherit,
            Some(Path::new("/nonexistent/dir")),
        )
        .unwrap_err();
    assert!(matches!(err, SpawnError::Exec { .. }), "{err:?}");
}

/// A child that exits without reading what is written to it: the
/// megabyte the parent wrote is dropped, stdin is lost, the process ends
/// cleanly, and nothing is logged as an error.
#[test]
fn a_child_that_exits_before_reading() {
    let records = gyre_sh("exit 0", |name, t| {
        if name == "connection_made" {
            t.write(&vec![b'x'; 1024 * 1024]);
        }
    });
    assert!(
        records.contains(&"in_connection_lost".to_string()),
        "{records:#?}"
    );
    assert_eq!(
        records.last().unwrap(),
        "process_ended A process has ended without apparent errors: process finished with exit code 0."
    );
}

/// A producer writing 100 MiB to a child that never reads: it is paused
/// by the 64 KiB rule, what waits in the pipe's buffer stays bounded, and
/// almost none of the 100 MiB is ever produced.
#[test]
fn a_child_that_never_reads_keeps_memory_bounded() {
    const TOTAL: usize = 100 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    struct Feeder {
        transport: RefCell<Option<ProcessTransport>>,
        reactor: Reactor,
        paused: Cell<bool>,
        pauses: Cell<usize>,
        written: Cell<usize>,
        most_buffered: Cell<usize>,
    }
    impl Feeder {
        fn feed(self: &Rc<Self>) {
            let Some(t) = self.transport.borrow().clone() else {
                return;
            };
            if self.paused.get() || self.written.get() >= TOTAL {
                return;
            }
            t.write(&[b'y'; CHUNK]);
            self.written.set(self.written.get() + CHUNK);
            self.most_buffered
                .set(self.most_buffered.get().max(t.buffered()));
            let me = self.clone();
            self.reactor.call_later(Duration::ZERO, move || me.feed());
        }
    }
    struct AsProducer(Rc<Feeder>);
    impl PushProducer for AsProducer {
        fn pause_producing(&self) {
            self.0.paused.set(true);
            self.0.pauses.set(self.0.pauses.get() + 1);
            // Paused: the child will never read, so end it.
            if let Some(t) = self.0.transport.borrow().as_ref() {
                let _ = t.signal_process("KILL");
            }
        }
        fn resume_producing(&self) {
            self.0.paused.set(false);
            self.0.feed();
        }
        fn stop_producing(&self) {
            self.0.paused.set(true);
        }
    }
    let reactor = Reactor::new().unwrap();
    let feeder = Rc::new(Feeder {
        transport: RefCell::new(None),
        reactor: reactor.clone(),
        paused: Cell::new(false),
        pauses: Cell::new(0),
        written: Cell::new(0),
        most_buffered: Cell::new(0),
    });
    let f = feeder.clone();
    let events = Events::default();
    let t = reactor
        .spawn_process(
            Record::new(&reactor, &events, move |name, t| {
                if name == "connection_made" {
                    *f.transport.borrow_mut() = Some(t.clone());
                    // A refusal would leave the producer unpaused: the
                    // pause count checked after the run shows it.
                    let _ = t.register_producer(Producer::streaming(AsProducer(f.clone())));
                    f.feed();
                }
            }),
            "/bin/sh",
            ["sh", "-c", "exec sleep 60"],
            Env::Inherit,
            None,
        )
        .unwrap();
    run_for(&reactor, LIMIT);
    drop(t);
    assert_eq!(feeder.pauses.get(), 1, "the producer was paused once");
    assert!(
        feeder.written.get() <= 4 * CHUNK + 1024 * 1024,
        "{} bytes produced for a child that never reads",
        feeder.written.get()
    );
    assert!(
        feeder.most_buffered.get() <= 2 * CHUNK,
        "{} bytes buffered",
        feeder.most_buffered.get()
    );
    assert_eq!(
        events.get().last().unwrap(),
        "process_ended A process has ended with a probable error condition: process ended by signal 9."
    );
}

/// A child still running when its reactor stops: its pipes close (the
/// protocol hears of each), `process_ended` never comes, and once the
/// child exits it is reaped in the background: no zombie is left.
#[test]
fn a_child_outliving_its_reactor_is_reaped() {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let r = reactor.clone();
    let t = reactor
        .spawn_process(
            Record::new(&reactor, &events, move |name, _| {
                if name == "connection_made" {
                    let r = r.clone();
                    r.clone().call_later(Duration::from_millis(50), move || {
                        let _ = r.stop();
                    });
                }
            }),
            "/bin/sleep",
            ["sleep", "30"],
            Env::Inherit,
            None,
        )
        .unwrap();
    let pid = t.pid().expect("running");
    run_for(&reactor, LIMIT);
    let mut got = events.get();
    got.sort();
    assert_eq!(
        got,
        [
            "connection_made",
            "err_connection_lost",
            "in_connection_lost",
            "out_connection_lost"
        ]
    );
    // Still running, and ours: end it, then it must vanish (reaped), not
    // stay a zombie.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("child still exists");
    assert!(!stat.contains(") Z "), "{stat}");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "child {pid} not reaped: {}",
            std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(t);
}

/// The process's output as the producer of a slow consumer: pausing it
/// stops reading the child's stdout; resuming reads on; every byte of a
/// large output arrives, in order.
#[test]
fn pausing_reading_holds_the_child_output() {
    let reactor = Reactor::new().unwrap();
    let got: Rc<RefCell<Vec<u8>>> = Rc::default();
    struct Slow(Reactor, Rc<RefCell<Vec<u8>>>);
    impl ProcessProtocol for Slow {
        fn out_received(&mut self, t: &ProcessTransport, data: &[u8]) {
            self.1.borrow_mut().extend_from_slice(data);
            // Pause after each chunk, resume on a later turn.
            t.pause_reading();
            let t = t.clone();
            self.0
                .call_later(Duration::from_millis(1), move || t.resume_reading());
        }
        fn process_ended(&mut self, _: ExitReason) {
            let _ = self.0.stop();
        }
    }
    reactor
        .spawn_process(
            Slow(reactor.clone(), got.clone()),
            "/bin/sh",
            ["sh", "-c", "seq 1 100000"],
            Env::Inherit,
            None,
        )
        .unwrap();
    run_for(&reactor, LIMIT);
    let expected: String = (1..=100000).map(|i| format!("{i}\n")).collect();
    assert!(
        got.borrow().as_slice() == expected.as_bytes(),
        "output lost or reordered"
    );
}

/// A panic in a process protocol's callback is logged and closes that
/// pipe only; the process still ends and `process_ended` still comes.
#[test]
fn a_panicking_callback_closes_its_pipe_only() {
    util::expect_errors(&["panic in data_received: out_received failed on purpose"]);
    struct Panicky(Reactor, Events);
    impl ProcessProtocol for Panicky {
        fn out_received(&mut self, _: &ProcessTransport, _: &[u8]) {
            panic!("out_received failed on purpose");
        }
        fn err_received(&mut self, _: &ProcessTransport, data: &[u8]) {
            self.1
                .push(format!("err {}", String::from_utf8_lossy(data).trim_end()));
        }
        fn child_connection_lost(&mut self, fd: u32) {
            self.1.push(format!("lost {fd}"));
        }
        fn process_ended(&mut self, reason: ExitReason) {
            self.1.push(format!("ended {:?}", reason.exit_code()));
            let _ = self.0.stop();
        }
    }
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor
        .spawn_process(
            Panicky(reactor.clone(), events.clone()),
            "/bin/sh",
            ["sh", "-c", "echo out; sleep 0.1; echo err >&2; exit 4"],
            Env::Inherit,
            None,
        )
        .unwrap();
    run_for(&reactor, LIMIT);
    let got = events.get();
    assert!(got.contains(&"lost 1".to_string()), "{got:?}");
    assert!(got.contains(&"err err".to_string()), "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("ended Some(4)"));
    let logged = util::lines_containing("out_received failed on purpose");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(
        logged[0].system,
        format!(
            "Panicky,{},stdout",
            logged[0].system.split(',').nth(1).unwrap()
        )
    );
}

/// The descriptor mapping: a standard descriptor left out is /dev/null,
/// `Inherit` passes the parent's; `Inherit` for 3 and up is refused with a
/// typed error (the descriptor is passed as `ChildFd::Descriptor`), as is
/// a standard pipe the wrong way round.
#[test]
fn child_descriptor_mapping() {
    use gyre::process::{ChildFd, ProcessOptions};
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let t = reactor
        .spawn_process_with(
            Record::new(&reactor, &events, |_, _| {}),
            "/bin/sh",
            ["sh", "-c", "readlink /proc/self/fd/0; cat"],
            ProcessOptions::new().no_child_fd(0),
        )
        .unwrap();
    assert!(t.child_transport(0).is_none());
    run_for(&reactor, LIMIT);
    let got = events.get();
    assert!(
        got.contains(&"out_received b'/dev/null\\n'".to_string()),
        "{got:?}"
    );
    assert!(!got.contains(&"in_connection_lost".to_string()), "{got:?}");

    let err = reactor
        .spawn_process_with(
            Record::new(&reactor, &events, |_, _| {}),
            "/bin/true",
            ["true"],
            ProcessOptions::new().child_fd(3, ChildFd::Inherit),
        )
        .unwrap_err();
    assert!(matches!(err, SpawnError::ChildFd { fd: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("ChildFd::Descriptor"), "{err}");
    let err = reactor
        .spawn_process_with(
            Record::new(&reactor, &events, |_, _| {}),
            "/bin/true",
            ["true"],
            ProcessOptions::new().child_fd(1, ChildFd::FromParent),
        )
        .unwrap_err();
    assert!(matches!(err, SpawnError::ChildFd { fd: 1, .. }), "{err:?}");
}

/// Runs `sh -c SCRIPT` with `options` under a [`Record`] and returns its
/// records.
fn gyre_sh_with(
    script: &str,
    options: gyre::process::ProcessOptions,
    hook: impl FnMut(&str, &ProcessTransport) + 'static,
) -> Vec<String> {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor
        .spawn_process_with(
            Record::new(&reactor, &events, hook),
            "/bin/sh",
            ["sh", "-c", script],
            options,
        )
        .expect("spawn sh");
    run_for(&reactor, LIMIT);
    events.get()
}

/// A child that writes on its descriptor 3 and reads on 4 (Twisted's
/// `childFDs={0: "w", 1: "r", 2: "r", 3: "r", 4: "w"}`): what it writes
/// arrives as `child_data_received(3, …)`, `write_to_child(4, …)` reaches
/// it, each pipe's loss is reported, in Twisted's order.
#[test]
fn descriptors_3_and_4_match_twisted() {
    use gyre::process::{ChildFd, ProcessOptions};
    let theirs = twisted("fd34");
    let options = ProcessOptions::new()
        .child_fd(3, ChildFd::ToParent)
        .child_fd(4, ChildFd::FromParent);
    let mut answered = false;
    let ours = gyre_sh_with(
        "echo out >&3; read x <&4; echo got $x >&3",
        options,
        move |name, t| {
            if name == "child_data_received" && !answered {
                answered = true;
                t.write_to_child(4, b"hi\n");
            }
        },
    );
    assert_same_as_twisted("fd34", &ours, &theirs);
    // The records themselves (not only their order per pipe) are Twisted's.
    let sorted = |r: &[String]| {
        let mut r = r.to_vec();
        r.sort();
        r
    };
    assert_eq!(sorted(&ours), sorted(&theirs), "gyre {ours:#?}");
    assert!(
        ours.contains(&"child_data_received 3 b'got hi\\n'".to_string()),
        "{ours:#?}"
    );
}

/// A parent's descriptor (one end of a socket pair the test made) given
/// as the child's descriptor 5 (Twisted's `childFDs={…, 5: w}`): what the
/// child writes there, the test reads at the other end. The parent's copy
/// is closed by the spawn, so the other end then reads the end of input.
#[test]
fn a_parent_descriptor_as_child_fd_5() {
    use gyre::process::{ChildFd, ProcessOptions};
    use std::io::Read;
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let options = ProcessOptions::new().child_fd(5, ChildFd::Descriptor(theirs.into()));
    let records = gyre_sh_with("echo passed >&5", options, |_, _| {});
    assert_eq!(
        records.last().map(String::as_str),
        Some(
            "process_ended A process has ended without apparent errors: process finished with exit code 0."
        ),
        "{records:#?}"
    );
    let mut got = Vec::new();
    ours.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"passed\n");
}

/// `ChildFd::Null` on a descriptor 3 and up is `/dev/null`, and
/// `ChildFd::Descriptor` on a standard one (here stdout) is the parent's
/// descriptor.
#[test]
fn null_on_3_and_a_parent_descriptor_as_stdout() {
    use gyre::process::{ChildFd, ProcessOptions};
    use std::io::Read;
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let options = ProcessOptions::new()
        .child_fd(1, ChildFd::Descriptor(theirs.into()))
        .child_fd(3, ChildFd::Null);
    let records = gyre_sh_with("readlink /proc/self/fd/3", options, |_, _| {});
    assert!(
        records.last().is_some_and(|r| r.contains("exit code 0.")),
        "{records:#?}"
    );
    assert!(
        !records.iter().any(|r| r.starts_with("out_")),
        "{records:#?}"
    );
    let mut got = String::new();
    ours.read_to_string(&mut got).unwrap();
    assert_eq!(got, "/dev/null\n");
}

/// A swap: the child's descriptor A gets the parent's descriptor B and B
/// gets A, where A and B are the numbers of those very descriptors in the
/// parent (each source is the other's target). Twisted places this right
/// (checked: with w1 = 7, w2 = 9 and `childFDs={7: 9, 9: 7}`, what the
/// child writes on 7 comes out of the pipe of 9), as must gyre.
#[test]
fn a_swap_mapping_where_sources_are_targets() {
    use gyre::process::{ChildFd, ProcessOptions};
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (mut a_far, a) = std::os::unix::net::UnixStream::pair().unwrap();
    let (mut b_far, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (na, nb) = (a.as_raw_fd(), b.as_raw_fd());
    let options = ProcessOptions::new()
        .child_fd(na as u32, ChildFd::Descriptor(b.into()))
        .child_fd(nb as u32, ChildFd::Descriptor(a.into()));
    let records = gyre_sh_with(
        &format!("echo to{na} >&{na}; echo to{nb} >&{nb}"),
        options,
        |_, _| {},
    );
    assert!(
        records.last().is_some_and(|r| r.contains("exit code 0.")),
        "{records:#?}"
    );
    let (mut via_a, mut via_b) = (String::new(), String::new());
    a_far.read_to_string(&mut via_a).unwrap();
    b_far.read_to_string(&mut via_b).unwrap();
    assert_eq!((via_a, via_b), (format!("to{nb}\n"), format!("to{na}\n")));
}

/// Only what the mapping names is open in the child: `ls /proc/self/fd`
/// with a pipe on 3 lists what it lists under Twisted (0 to 3 and the
/// directory `ls` reads), and descriptors the parent has open but did not
/// map are not among them: one close-on-exec, and one that is not (as a
/// descriptor the test process inherited may be), both numbered 100 and
/// up so that no descriptor of the child's can have their number.
#[test]
fn an_unmapped_descriptor_is_not_open_in_the_child() {
    use gyre::process::{ChildFd, ProcessOptions};
    use rustix::io::{FdFlags, fcntl_dupfd_cloexec, fcntl_getfd, fcntl_setfd};
    use std::os::fd::AsRawFd;
    let theirs = twisted("fdls");
    let (one, other) = std::os::unix::net::UnixStream::pair().unwrap();
    let unmapped = fcntl_dupfd_cloexec(&one, 100).unwrap();
    let unmapped_too = fcntl_dupfd_cloexec(&other, 100).unwrap();
    fcntl_setfd(&unmapped_too, FdFlags::empty()).unwrap();
    assert_eq!(fcntl_getfd(&unmapped_too).unwrap(), FdFlags::empty());
    let options = ProcessOptions::new().child_fd(3, ChildFd::ToParent);
    let ours = gyre_sh_with("ls /proc/self/fd", options, |_, _| {});
    assert_same_as_twisted("fdls", &ours, &theirs);
    let listed: Vec<String> = ours
        .iter()
        .find_map(|r| r.strip_prefix("out_received b'"))
        .expect("ls printed")
        .trim_end_matches('\'')
        .split("\\n")
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    for fd in [unmapped.as_raw_fd(), unmapped_too.as_raw_fd()] {
        assert!(fd >= 100);
        assert!(!listed.contains(&fd.to_string()), "{fd} in {listed:?}");
    }
    assert!(listed.contains(&"3".to_string()), "{listed:?}");
}

/// uid and gid: as root the child runs as `nobody` (65534); otherwise the
/// spawn is refused with the OS's "Operation not permitted".
#[test]
fn uid_and_gid_where_permitted() {
    use gyre::process::ProcessOptions;
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let spawned = reactor.spawn_process_with(
        Record::new(&reactor, &events, |_, _| {}),
        "/bin/sh",
        ["sh", "-c", "echo $(id -u) $(id -g)"],
        ProcessOptions::new().uid(65534).gid(65534),
    );
    if rustix::process::geteuid().is_root() {
        spawned.expect("root may change uid and gid");
        run_for(&reactor, LIMIT);
        assert!(
            events
                .get()
                .contains(&"out_received b'65534 65534\\n'".to_string()),
            "{:?}",
            events.get()
        );
    } else {
        let err = spawned.unwrap_err();
        assert!(
            err.to_string().ends_with("Operation not permitted"),
            "{err}"
        );
    }
}

/// On a pseudo-terminal, as Twisted's `usePTY`: the child sees a terminal
/// (its input is echoed, lines end in CRLF), everything arrives as
/// `out_received`, no descriptor's loss is reported, and the exit and the
/// end come as with pipes. Compared with Twisted: the records other than
/// output, and the output joined (its chunking is the OS's).
#[test]
fn a_pty_matches_twisted() {
    use gyre::process::ProcessOptions;
    let theirs = twisted("pty");
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    reactor
        .spawn_process_with(
            Record::new(&reactor, &events, |name, t| {
                if name == "connection_made" {
                    t.write(b"abc\n");
                    // A terminal does not close one way (as in Twisted).
                    t.close_stdin();
                }
            }),
            "/bin/sh",
            [
                "sh",
                "-c",
                r#"test -t 0 && test -t 1 && test -t 2 || exit 9; read l; echo "got $l"; exit 2"#,
            ],
            ProcessOptions::new().use_pty(true),
        )
        .unwrap();
    run_for(&reactor, LIMIT);
    let ours = events.get();
    let not_output = |r: &Vec<String>| -> Vec<String> {
        r.iter()
            .filter(|l| !l.starts_with("out_received"))
            .cloned()
            .collect()
    };
    let output = |r: &Vec<String>| -> String {
        r.iter()
            .filter_map(|l| l.strip_prefix("out_received b'"))
            .map(|l| l.trim_end_matches('\''))
            .collect()
    };
    assert_eq!(
        not_output(&ours),
        not_output(&theirs),
        "gyre {ours:#?}\nTwisted {theirs:#?}"
    );
    assert_eq!(output(&ours), output(&theirs));
    assert_eq!(output(&ours), "abc\\r\\ngot abc\\r\\n");
}
