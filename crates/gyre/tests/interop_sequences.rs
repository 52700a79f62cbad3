//! Sequences that gyre must reproduce exactly, compared line by line with
//! what Python's Twisted itself prints for the same scenario.
//!
//! `tests/interop/twisted_sequences.py MODE` runs a scenario on Twisted (in
//! the venv that `scripts/setup-twisted-venv` builds) and prints one record
//! a line; each test here runs the same scenario on gyre, prints the same
//! records, and compares the two lists after [`normalise`] (object
//! addresses, the name of the connector's class, a factory's module path
//! and an ephemeral port number differ by nature). The scenarios:
//!
//! * `rcf`: `ReconnectingClientFactory` without jitter on a virtual clock:
//!   the wait of every retry, the delay after it, the retry count and the
//!   log lines (reference §4.1), with the defaults, with `max_retries`, and
//!   around `reset_delay` / `stop_trying`;
//! * `service`: `ClientService` with `backoff_policy(…, jitter 0)`: waits and
//!   `Scheduling retry …` lines (reference §4.2);
//! * `looping`: a `LoopingCall` whose function fails, on the test clock:
//!   the clock goes on, the loop's completion carries the failure
//!   (reference §8.1);
//! * `systems`: a real TCP client session on 127.0.0.1, then a reconnecting
//!   client against a closed port: the log system of each client-side line
//!   (reference §1.7.4, §11.1).
//!
//! Without the venv these tests fail, never skip: the interpreter is
//! `$GYRE_TWISTED_PYTHON`, else `<repo>/.venv/bin/python`. The Python side
//! is bounded by [`LIMIT`] (then killed) and by its own 20-second alarm.

#[path = "interop/python.rs"]
mod python;
mod util;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use gyre::client::{ClientService, backoff_policy};
use gyre::endpoint::TcpClientEndpoint;
use gyre::testing::{MemoryReactor, StringTransport, VirtualClock};
use gyre::{
    Address, ClientFactory, ConnectError, Connector, ConnectorState, Factory, LoopingCall,
    Protocol, Reactor, Reason, Reconnecting, ReconnectingClientFactory, Shared, Transport,
    for_protocol,
};

/// How long the Python side may run.
const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Finding the interpreter and running the Twisted side

/// Without an interpreter that has Twisted, the lookup the tests use panics
/// with a message that says how to build the venv.
#[test]
#[should_panic(expected = "Twisted venv missing: run scripts/setup-twisted-venv")]
fn a_missing_venv_fails_loudly() {
    let nowhere = Path::new("/nonexistent/gyre-venv/bin/python");
    python::python_or_fail(Some(nowhere.into()), nowhere);
}

/// What `twisted_sequences.py MODE` printed; fails unless it exited 0
/// within [`LIMIT`].
fn twisted(mode: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/twisted_sequences.py");
    let mut command = Command::new(python::twisted_python());
    command.arg(&script).arg(mode);
    let out = python::output_within(command, b"", LIMIT);
    out.lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------
// Comparing

/// Replaces what differs by nature between the two sides: `0x…` addresses,
/// the connector's class (`twisted.internet.tcp.Connector`,
/// `gyre::Connector`), a factory's path (`<…Cli object at …>` → `<Cli>`)
/// and the port number after `port=`.
fn normalise(line: &str) -> String {
    let mut s = line
        .replace("twisted.internet.tcp.Connector", "Connector")
        .replace("gyre::Connector", "Connector");
    for marker in ["Starting factory <", "Stopping factory <"] {
        if let Some(at) = s.find(marker) {
            let start = at + marker.len();
            if let Some(len) = s[start..].find(" object at ") {
                let path = &s[start..start + len];
                let short = path.rsplit(['.', ':']).next().unwrap_or(path).to_string();
                let after = start + len;
                let end = s[after..].find('>').map_or(s.len(), |e| after + e);
                s = format!("{}{short}{}", &s[..start], &s[end..]);
            }
        }
    }
    s = replace_after(&s, "0x", |c| c.is_ascii_hexdigit(), "…");
    replace_after(&s, "port=", |c| c.is_ascii_digit(), "N")
}

/// Each run of characters matching `keep` right after `marker` becomes `with`.
fn replace_after(s: &str, marker: &str, keep: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        let n = rest.find(|c| !keep(c)).unwrap_or(rest.len());
        if n > 0 {
            out.push_str(with);
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// Fails, showing both sides, unless they match line by line.
#[track_caller]
fn assert_same(mode: &str, gyre: &[String], twisted: &[String]) {
    let g: Vec<String> = gyre.iter().map(|l| normalise(l)).collect();
    let t: Vec<String> = twisted.iter().map(|l| normalise(l)).collect();
    if g != t {
        let first = g.iter().zip(&t).position(|(a, b)| a != b);
        panic!(
            "{mode}: gyre differs from Twisted (first at line {first:?})\n--- Twisted\n{}\n--- gyre\n{}",
            t.join("\n"),
            g.join("\n")
        );
    }
    assert!(!g.is_empty(), "{mode}: no records");
}

/// Seconds as the Python side prints them.
fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

fn secs_f(x: f64) -> String {
    format!("{x:.6}")
}

/// The lines logged on this thread since the last call, as `log: text`
/// records, keeping those `keep` selects.
fn logged(out: &mut Vec<String>, keep: impl Fn(&str) -> bool) {
    for line in util::take_logs() {
        if keep(&line.text) {
            out.push(format!("log: {}", line.text));
        }
    }
}

// ---------------------------------------------------------------------------
// ReconnectingClientFactory

struct Quiet;
impl Protocol for Quiet {}

/// A policy's log lines.
fn policy_line(text: &str) -> bool {
    text.contains(" will retry in ") || text.starts_with("Abandoning ")
}

/// One failed attempt on `connector` (disconnected first, as after a real
/// failure): the record of the retry it scheduled, or of none.
fn rcf_fail(
    out: &mut Vec<String>,
    name: &str,
    step: u32,
    clock: &VirtualClock,
    policy: &ReconnectingClientFactory,
    connector: &Connector,
) -> Option<Duration> {
    connector.disconnect();
    policy.client_connection_failed(connector, &ConnectError::Refused);
    let wait = policy.pending_retry().map(|call| call.time() - clock.now());
    match wait {
        Some(w) => out.push(format!(
            "{name} step {step} wait {} delay {} retries {}",
            secs(w),
            secs(policy.delay()),
            policy.retries()
        )),
        None => out.push(format!(
            "{name} step {step} no-retry delay {} retries {}",
            secs(policy.delay()),
            policy.retries()
        )),
    }
    logged(out, policy_line);
    wait
}

/// Advances `clock` by `by` and counts a reconnection if one started.
fn run_retry(clock: &VirtualClock, by: Duration, connector: &Connector, connects: &mut u32) {
    clock.advance(by);
    if connector.state() == ConnectorState::Connecting {
        *connects += 1;
    }
}

fn gyre_rcf() -> Vec<String> {
    util::capture_logs();
    util::take_logs();
    let mut out = Vec::new();

    let reactor = MemoryReactor::new();
    let clock = reactor.clock().clone();
    let policy = ReconnectingClientFactory::new(&clock).with_jitter(0.0);
    let connector = reactor.connect_tcp("127.0.0.1", 1, for_protocol(|| Quiet));
    let mut connects = 0;
    for step in 1..=12 {
        let wait = rcf_fail(&mut out, "nominal", step, &clock, &policy, &connector);
        run_retry(&clock, wait.expect("a retry"), &connector, &mut connects);
    }
    out.push(format!("nominal connects {connects}"));

    let reactor = MemoryReactor::new();
    let clock = reactor.clock().clone();
    let policy = ReconnectingClientFactory::new(&clock)
        .with_jitter(0.0)
        .with_initial_delay(Duration::from_millis(50))
        .with_max_retries(Some(3));
    let connector = reactor.connect_tcp("127.0.0.1", 1, for_protocol(|| Quiet));
    let mut connects = 0;
    for step in 1..=4 {
        if let Some(wait) = rcf_fail(&mut out, "max-retries", step, &clock, &policy, &connector) {
            run_retry(&clock, wait, &connector, &mut connects);
        }
    }
    out.push(format!("max-retries connects {connects}"));

    let reactor = MemoryReactor::new();
    let clock = reactor.clock().clone();
    let policy = ReconnectingClientFactory::new(&clock)
        .with_jitter(0.0)
        .with_initial_delay(Duration::from_millis(500));
    let connector = reactor.connect_tcp("127.0.0.1", 1, for_protocol(|| Quiet));
    let mut connects = 0;
    for step in 1..=2 {
        let wait = rcf_fail(&mut out, "reset", step, &clock, &policy, &connector);
        run_retry(&clock, wait.expect("a retry"), &connector, &mut connects);
    }
    policy.reset_delay();
    out.push(format!(
        "reset after-reset delay {} retries {}",
        secs(policy.delay()),
        policy.retries()
    ));
    connector.disconnect();
    policy.client_connection_lost(&connector, &Reason::Done);
    let wait = policy.pending_retry().expect("a retry").time() - clock.now();
    out.push(format!(
        "reset lost wait {} delay {} retries {}",
        secs(wait),
        secs(policy.delay()),
        policy.retries()
    ));
    logged(&mut out, policy_line);
    policy.stop_trying();
    out.push(format!(
        "reset stopped pending {}",
        clock.pending_calls().len()
    ));
    policy.client_connection_failed(&connector, &ConnectError::Refused);
    policy.retry(Some(&connector)).unwrap();
    policy.retry(None).unwrap();
    out.push(format!(
        "reset stopped pending {} retries {}",
        clock.pending_calls().len(),
        policy.retries()
    ));
    logged(&mut out, policy_line);
    out
}

/// `ReconnectingClientFactory` without jitter waits 1, e, e², … seconds
/// (capped at 3600), keeps `delay()` one step ahead, logs `will retry in N
/// seconds` with the wait truncated, abandons after `max_retries`, starts
/// over after `reset_delay` and refuses after `stop_trying`, exactly as
/// Twisted's does, line for line.
#[test]
fn reconnecting_client_factory_matches_twisted() {
    let twisted = twisted("rcf");
    assert_same("rcf", &gyre_rcf(), &twisted);
}

// ---------------------------------------------------------------------------
// ClientService

fn gyre_service() -> Vec<String> {
    util::capture_logs();
    util::take_logs();
    let scheduling = |t: &str| t.starts_with("Scheduling retry");
    let mut out = Vec::new();
    let reactor = MemoryReactor::new();
    let endpoint = TcpClientEndpoint::new(&reactor, "example.test", 7);
    let service = ClientService::new(&reactor, endpoint, for_protocol(|| Quiet)).with_retry_policy(
        backoff_policy(Duration::from_secs(1), Duration::from_secs(60), 1.5, || {
            Duration::ZERO
        }),
    );
    service.start_service();
    let next_wait = || {
        let calls = gyre::time::Clock::pending_calls(&reactor);
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls[0].time() - reactor.clock().now()
    };
    for step in 1..=12 {
        let client = reactor.tcp_clients().pop().expect("an attempt");
        client
            .factory
            .client_connection_failed(&client.connector, &ConnectError::Refused);
        let wait = next_wait();
        out.push(format!("service step {step} wait {}", secs(wait)));
        logged(&mut out, scheduling);
        reactor.advance(wait);
    }
    let client = reactor.tcp_clients().pop().expect("an attempt");
    let mut protocol = client
        .factory
        .build_protocol(&Address::tcp("192.0.2.7:7".parse().unwrap()))
        .expect("a protocol");
    StringTransport::new().make_connection(&mut protocol);
    protocol.connection_lost(Reason::Done);
    client
        .factory
        .client_connection_lost(&client.connector, &Reason::Done);
    out.push(format!("service lost wait {}", secs(next_wait())));
    logged(&mut out, scheduling);
    assert_eq!(service.stop_service().peek(), Some(true));
    out
}

/// `ClientService` with Twisted's default back-off and no jitter waits
/// 1.5, 2.25, 3.375, … seconds up to 60, numbers its `Scheduling retry`
/// lines, and starts over at 1.5 s after a lost connection, as Twisted's.
#[test]
fn client_service_matches_twisted() {
    let twisted = twisted("service");
    assert_same("service", &gyre_service(), &twisted);
}

// ---------------------------------------------------------------------------
// LoopingCall

fn gyre_looping() -> Vec<String> {
    let mut out = Vec::new();
    let clock = VirtualClock::new();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let (c, k) = (calls.clone(), clock.clone());
    let lc = LoopingCall::new(&clock, move || {
        c.borrow_mut().push(k.seconds());
        if c.borrow().len() == 2 {
            panic!("tick failed");
        }
    });
    let done = lc.start(Duration::from_secs(1), true).unwrap();
    let other = Rc::new(RefCell::new(Vec::new()));
    let (o, k) = (other.clone(), clock.clone());
    clock.call_later(Duration::from_secs(1), move || {
        o.borrow_mut().push(k.seconds())
    });
    match catch_unwind(AssertUnwindSafe(|| clock.advance(Duration::from_secs(1)))) {
        Ok(()) => out.push("looping advance returned".to_string()),
        Err(_) => out.push("looping advance raised tick failed".to_string()),
    }
    let times = |v: &[f64]| v.iter().map(|t| secs_f(*t)).collect::<Vec<_>>().join(" ");
    out.push(format!("looping calls {}", times(&calls.borrow())));
    out.push(format!("looping other {}", times(&other.borrow())));
    out.push(format!("looping running {}", py_bool(lc.is_running())));
    out.push(format!("looping outcome {}", outcome(&done)));
    out.push(format!("looping pending {}", clock.pending_calls().len()));
    clock.advance(Duration::from_secs(5));
    out.push(format!("looping calls {}", times(&calls.borrow())));

    let lc2 = LoopingCall::new(&clock, || panic!("first call failed"));
    match catch_unwind(AssertUnwindSafe(|| lc2.start(Duration::from_secs(1), true))) {
        Ok(started) => {
            let done = started.expect("not running yet");
            out.push(format!("looping now running {}", py_bool(lc2.is_running())));
            out.push(format!("looping now outcome {}", outcome(&done)));
        }
        Err(_) => out.push("looping now start raised first call failed".to_string()),
    }
    out.push(format!(
        "looping now pending {}",
        clock.pending_calls().len()
    ));
    out
}

/// What Twisted's loop Deferred would have fired with.
fn outcome(done: &gyre::Completion) -> String {
    match (done.is_complete(), done.failure()) {
        (false, _) => String::new(),
        (true, None) => "callback".to_string(),
        (true, Some(message)) => format!("errback {message}"),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A `LoopingCall` whose function fails does not break `VirtualClock::advance`:
/// the call due at the same time still runs, the loop stops, its
/// completion carries the failure, and a failure in the first call (made
/// inside `start`) is carried the same way; as in Twisted, record for record.
#[test]
fn looping_call_failure_matches_twisted() {
    let twisted = twisted("looping");
    assert_same("looping", &gyre_looping(), &twisted);
}

// ---------------------------------------------------------------------------
// Log systems on the client side

/// Sends `hello` to each client and closes.
struct Hello;

impl Protocol for Hello {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"hello");
        transport.lose_connection();
    }
}

/// The client protocol; logs its events.
struct ClientProto;

impl Protocol for ClientProto {
    fn connection_made(&mut self, _: &Transport) {
        log::info!("client connection_made");
    }
    fn data_received(&mut self, _: &Transport, data: &[u8]) {
        log::info!("client data_received {}", String::from_utf8_lossy(data));
    }
    fn connection_lost(&mut self, _: Reason) {
        log::info!("client connection_lost");
    }
}

/// The first client's factory: logs its callbacks and, once its connection
/// is lost, starts the reconnecting client on the next turn.
struct Cli {
    reactor: Reactor,
}

impl Factory for Cli {
    type Protocol = ClientProto;
    fn build_protocol(&self, _: &Address) -> Option<ClientProto> {
        log::info!("build_protocol");
        Some(ClientProto)
    }
}

impl ClientFactory for Cli {
    fn started_connecting(&self, _: &Connector) {
        log::info!("started_connecting");
    }
    fn client_connection_lost(&self, _: &Connector, _: &Reason) {
        log::info!("client_connection_lost");
        let reactor = self.reactor.clone();
        self.reactor
            .call_later(Duration::ZERO, move || refused(&reactor));
    }
}

/// The reconnecting client's own factory (wrapped in [`Reconnecting`]):
/// logs each failure and stops the reactor on the next turn after the
/// second.
struct Retrying {
    reactor: Reactor,
    failures: Cell<u32>,
}

impl Factory for Retrying {
    type Protocol = ClientProto;
    fn build_protocol(&self, _: &Address) -> Option<ClientProto> {
        Some(ClientProto)
    }
}

impl ClientFactory for Retrying {
    fn client_connection_failed(&self, _: &Connector, _: &ConnectError) {
        log::info!("client_connection_failed");
        self.failures.set(self.failures.get() + 1);
        if self.failures.get() == 2 {
            let reactor = self.reactor.clone();
            self.reactor
                .call_later(Duration::ZERO, move || util::stop(&reactor));
        }
    }
}

/// Connects a reconnecting client (from 0.05 s, one retry allowed) to a
/// closed port.
fn refused(reactor: &Reactor) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = ReconnectingClientFactory::new(reactor)
        .with_initial_delay(Duration::from_millis(50))
        .with_jitter(0.0)
        .with_max_retries(Some(1));
    let inner = Retrying {
        reactor: reactor.clone(),
        failures: Cell::new(0),
    };
    reactor.connect_tcp(
        "127.0.0.1",
        closed,
        Shared::new(Reconnecting::with_policy(inner, policy)),
    );
}

/// The client side's lines, as the Python side selects them.
fn client_line(text: &str) -> bool {
    const OURS: [&str; 7] = [
        "started_connecting",
        "build_protocol",
        "client connection_made",
        "client data_received",
        "client connection_lost",
        "client_connection_lost",
        "client_connection_failed",
    ];
    let factory = (text.starts_with("Starting factory <")
        || text.starts_with("Stopping factory <"))
        && (text.contains("::Cli ") || text.contains("::Retrying "));
    factory || policy_line(text) || OURS.iter().any(|o| text.starts_with(o))
}

fn gyre_systems() -> Vec<String> {
    util::capture_logs();
    util::take_logs();
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Hello), util::loopback())
        .unwrap()
        .address()
        .port();
    reactor.connect_tcp(
        "127.0.0.1",
        port,
        Cli {
            reactor: reactor.clone(),
        },
    );
    util::run_for(&reactor, LIMIT);
    util::take_logs()
        .into_iter()
        .filter(|l| client_line(&l.text))
        .map(|l| format!("[{}] {}", l.system, l.text))
        .collect()
}

/// On the client side, `Starting factory` and `Stopping factory` are
/// logged under `[-]`, `build_protocol` and `connection_made` under
/// `[Uninitialized]`, reads and the loss under `[ClientProto,client]`, and
/// a refused attempt's failure and the policy's lines under
/// `[Uninitialized]`: Twisted's systems, line for line.
#[test]
fn client_log_systems_match_twisted() {
    let twisted = twisted("systems");
    assert_same("systems", &gyre_systems(), &twisted);
}
