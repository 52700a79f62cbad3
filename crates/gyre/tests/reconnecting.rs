//! Reconnecting clients: [`ReconnectingClientFactory`] and the
//! [`Reconnecting`] wrapper on a real reactor over loopback (refused
//! attempts, lost connections, `stop_trying`), and the exact text of the
//! policy's log lines on a `MemoryReactor`.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gyre::testing::MemoryReactor;
use gyre::{
    Address, ClientFactory, ConnectError, Connector, ConnectorState, Factory, Protocol, Reactor,
    Reason, Reconnecting, ReconnectingClientFactory, Shared, Transport, for_protocol,
};
use util::{assert_in_order, loopback, run_for};

const LIMIT: Duration = Duration::from_secs(10);

/// A reactor with the log captured.
fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Checks that `text` is `prefix`, Twisted's connector repr with a hex
/// address and the given state and destination, then `suffix`.
#[track_caller]
fn assert_names_connector(text: &str, prefix: &str, state_and_dest: &str, suffix: &str) {
    let rest = text
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix("<gyre::Connector instance at 0x"))
        .unwrap_or_else(|| panic!("{text:?}"));
    let hex_end = rest.find(' ').unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        hex_end > 0 && rest[..hex_end].chars().all(|c| c.is_ascii_hexdigit()),
        "{text:?}"
    );
    assert_eq!(&rest[hex_end..], format!(" {state_and_dest}>{suffix}"));
}

/// Does nothing (the client side of these tests).
struct Quiet;

impl Protocol for Quiet {}

/// Logs its failures; stops the reactor at the `stop_after`-th.
struct Failing {
    reactor: Reactor,
    failures: Cell<u32>,
    stop_after: u32,
}

impl Factory for Failing {
    type Protocol = Quiet;
    fn build_protocol(&self, _: &Address) -> Option<Quiet> {
        Some(Quiet)
    }
}

impl ClientFactory for Failing {
    fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
        log::info!("client_connection_failed {reason}");
        self.failures.set(self.failures.get() + 1);
        if self.failures.get() == self.stop_after {
            util::stop(&self.reactor);
        }
    }
}

/// Against a refused port with `max_retries: Some(3)`, the client makes four
/// attempts: each is bracketed by `Starting factory` / `Stopping factory`,
/// the first three failures schedule a retry, the fourth abandons. Without
/// jitter, from 0.05 s, the waits are 0.05, 0.05·e and 0.05·e² seconds
/// (0.05, 0.14, 0.37), each logged as `will retry in 0 seconds`: the
/// verified Twisted run of reference §4.1.
#[test]
fn refused_port_retries_then_abandons() {
    let reactor = reactor();
    let port = closed_port();
    let inner = Failing {
        reactor: reactor.clone(),
        failures: Cell::new(0),
        stop_after: 4,
    };
    let policy = ReconnectingClientFactory::new(&reactor)
        .with_initial_delay(Duration::from_millis(50))
        .with_jitter(0.0)
        .with_max_retries(Some(3));
    let factory = Shared::new(Reconnecting::with_policy(inner, policy));
    let started = Instant::now();
    let connector = reactor.connect_tcp("127.0.0.1", port, factory.clone());
    run_for(&reactor, LIMIT);
    let elapsed = started.elapsed();

    assert_eq!(factory.inner().failures.get(), 4);
    let policy = factory.policy();
    assert_eq!(policy.retries(), 4);
    assert!(policy.pending_retry().is_none());
    assert!(reactor.pending_calls().is_empty(), "nothing scheduled");
    assert!(policy.connector().unwrap().same_as(&connector));
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    let total = 0.05 * (1.0 + 1f64.exp() + 2f64.exp());
    assert!(
        elapsed >= Duration::from_secs_f64(total * 0.95),
        "retried too soon: {elapsed:?}"
    );

    let wanted = [
        "Starting factory",
        "client_connection_failed",
        "will retry in",
        "Stopping factory",
        "Abandoning",
    ];
    let lines: Vec<String> = util::texts()
        .into_iter()
        .filter(|t| wanted.iter().any(|w| t.contains(w)))
        .collect();
    let refused = format!("client_connection_failed {}", ConnectError::Refused);
    let shape: Vec<&str> = lines
        .iter()
        .map(|t| {
            if t.starts_with("Starting factory <reconnecting::Failing") {
                "start"
            } else if t.starts_with("Stopping factory <reconnecting::Failing") {
                "stop"
            } else if *t == refused {
                "failed"
            } else if t.ends_with("will retry in 0 seconds") {
                "retry 0"
            } else if t.ends_with("will retry in 1 seconds") {
                "retry 1"
            } else if t.starts_with("Abandoning") {
                "abandon"
            } else {
                panic!("unexpected line {t:?} in {lines:#?}")
            }
        })
        .collect();
    assert_eq!(
        shape,
        [
            "start", "failed", "retry 0", "stop", //
            "start", "failed", "retry 0", "stop", //
            "start", "failed", "retry 0", "stop", //
            "start", "failed", "abandon", "stop",
        ],
        "{lines:#?}"
    );
    let dest = format!("disconnected IPv4Address(type='TCP', host='127.0.0.1', port={port})");
    assert_names_connector(&lines[2], "", &dest, " will retry in 0 seconds");
    assert_names_connector(&lines[14], "Abandoning ", &dest, " after 4 retries.");
}

/// Closes every connection as soon as it is made.
struct Closer;

impl Protocol for Closer {
    fn connection_made(&mut self, transport: &Transport) {
        transport.lose_connection();
    }
}

/// The seed example's shape: the policy embedded, `reset_delay` on every
/// connection, both callbacks forwarded; gives up with `stop_trying` after
/// `limit` connections.
struct Client {
    reconnect: ReconnectingClientFactory,
    connections: Cell<u32>,
    failures: Cell<u32>,
    limit: u32,
    reactor: Reactor,
}

impl Factory for Client {
    type Protocol = Quiet;
    fn build_protocol(&self, _: &Address) -> Option<Quiet> {
        self.connections.set(self.connections.get() + 1);
        log::info!("Connected.");
        self.reconnect.reset_delay();
        Some(Quiet)
    }
}

impl ClientFactory for Client {
    fn client_connection_lost(&self, c: &Connector, reason: &Reason) {
        log::info!("Lost connection. Reason: {reason}");
        if self.connections.get() >= self.limit {
            self.reconnect.stop_trying();
            // Watch a while for an attempt that should not happen.
            let r = self.reactor.clone();
            self.reactor
                .call_later(Duration::from_millis(400), move || util::stop(&r));
        }
        self.reconnect.client_connection_lost(c, reason);
    }
    fn client_connection_failed(&self, c: &Connector, reason: &ConnectError) {
        log::info!("Connection failed. Reason: {reason}");
        self.failures.set(self.failures.get() + 1);
        self.reconnect.client_connection_failed(c, reason);
    }
}

/// A client whose server closes every connection reconnects after each loss
/// (its delay reset by `build_protocol`, so every wait is 0.05 s);
/// after the third connection it calls `stop_trying` and no fourth attempt
/// is made; the reactor then stops normally.
#[test]
fn reconnects_after_each_loss_until_stop_trying() {
    let reactor = reactor();
    let accepted = Rc::new(Cell::new(0u32));
    let a = accepted.clone();
    let server = for_protocol(move || {
        a.set(a.get() + 1);
        Closer
    });
    let port = reactor
        .listen_tcp_with(0, server, loopback())
        .unwrap()
        .address()
        .port();
    let client = Shared::new(Client {
        reconnect: ReconnectingClientFactory::new(&reactor)
            .with_initial_delay(Duration::from_millis(50)),
        connections: Cell::new(0),
        failures: Cell::new(0),
        limit: 3,
        reactor: reactor.clone(),
    });
    let connector = reactor.connect_tcp("127.0.0.1", port, client.clone());
    run_for(&reactor, LIMIT);

    assert_eq!(client.connections.get(), 3);
    assert_eq!(accepted.get(), 3, "no fourth connection reached the server");
    assert_eq!(client.failures.get(), 0);
    let policy = &client.reconnect;
    assert!(!policy.continue_trying());
    assert!(policy.pending_retry().is_none());
    assert_eq!(policy.retries(), 0, "reset by the third connection");
    assert_eq!(policy.delay(), Duration::from_millis(50));
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert!(reactor.pending_calls().is_empty());

    let texts = util::texts();
    let retries: Vec<&String> = texts
        .iter()
        .filter(|t| t.contains("will retry in"))
        .collect();
    assert_eq!(retries.len(), 2, "{texts:#?}");
    let done = "Lost connection. Reason: Connection was closed cleanly.";
    assert_in_order(
        &texts,
        &[
            "Starting factory <reconnecting::Client",
            "Connected.",
            done,
            "will retry in 0 seconds",
            "Stopping factory <reconnecting::Client",
            "Starting factory <reconnecting::Client",
            "Connected.",
            done,
            "will retry in 0 seconds",
            "Stopping factory <reconnecting::Client",
            "Starting factory <reconnecting::Client",
            "Connected.",
            done,
            "Stopping factory <reconnecting::Client",
        ],
    );
    assert!(
        !texts.iter().any(|t| t.contains("Abandoning")),
        "{texts:#?}"
    );
}

/// The policy's log lines, word for word, on a `MemoryReactor`: the wait in
/// whole seconds (1 → 1, then e → 2, as Twisted logs them), the retry count
/// on giving up, and the explicit-request line with the connector passed
/// (or `None`).
#[test]
fn log_lines_name_the_connector() {
    util::capture_logs();
    let reactor = MemoryReactor::new();
    let policy = ReconnectingClientFactory::new(&reactor)
        .with_jitter(0.0)
        .with_max_retries(Some(2));
    let connector = reactor.connect_tcp("example.org", 7, for_protocol(|| Quiet));
    connector.disconnect();
    for _ in 0..3 {
        policy.client_connection_failed(&connector, &ConnectError::Refused);
    }
    policy.reset_delay();
    policy.stop_trying();
    policy.client_connection_failed(&connector, &ConnectError::Refused);
    policy.retry(Some(&connector)).unwrap();
    policy.retry(None).unwrap();

    let lines: Vec<String> = util::texts()
        .into_iter()
        .filter(|t| t.contains("retry") || t.contains("Abandoning"))
        .collect();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let dest = "disconnected IPv4Address(type='TCP', host='example.org', port=7)";
    assert_names_connector(&lines[0], "", dest, " will retry in 1 seconds");
    assert_names_connector(&lines[1], "", dest, " will retry in 2 seconds");
    assert_names_connector(&lines[2], "Abandoning ", dest, " after 3 retries.");
    assert_names_connector(&lines[3], "Abandoning ", dest, " on explicit request");
    assert_eq!(lines[4], "Abandoning None on explicit request");
    // Each line is logged where the policy decided, in the caller's context.
    assert!(util::logs().iter().all(|l| l.system == "-"));
}

/// A policy built `with_noisy(false)` logs nothing, whatever it decides.
#[test]
fn quiet_policy_logs_nothing() {
    util::capture_logs();
    let reactor = MemoryReactor::new();
    let policy = ReconnectingClientFactory::new(&reactor)
        .with_noisy(false)
        .with_max_retries(Some(1));
    let connector = reactor.connect_tcp("example.org", 7, for_protocol(|| Quiet));
    connector.disconnect();
    policy.client_connection_failed(&connector, &ConnectError::Refused);
    policy.client_connection_failed(&connector, &ConnectError::Refused);
    policy.stop_trying();
    policy.retry(None).unwrap();
    assert_eq!(policy.retries(), 2);
    assert!(
        util::texts()
            .iter()
            .all(|t| !t.contains("retr") && !t.contains("Abandoning")),
        "{:#?}",
        util::texts()
    );
}
