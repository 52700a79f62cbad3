//! `ClientService` on a real reactor over 127.0.0.1 (reconnecting after
//! each close, giving up on refused connections), and the text of its
//! `Scheduling retry …` log lines (on a `MemoryReactor`, with no jitter).

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gyre::client::{ClientService, backoff_policy};
use gyre::deferred::Failure;
use gyre::endpoint::TcpClientEndpoint;
use gyre::testing::{MemoryReactor, StringTransport};
use gyre::{Address, ConnectError, Protocol, Reactor, Reason, Transport, for_protocol};
use util::{loopback, run_for};

const LIMIT: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_millis(20);

/// The server side: closes every connection it accepts.
struct Closer;

impl Protocol for Closer {
    fn connection_made(&mut self, transport: &Transport) {
        transport.lose_connection();
    }
}

/// Where a client protocol reaches its service (built after the factory).
type Slot = Rc<RefCell<Option<ClientService<Client>>>>;

/// The client side: counts connections; at the third it stops the service
/// (on the next reactor pass) and then the reactor.
struct Client {
    reactor: Reactor,
    made: Rc<Cell<u32>>,
    service: Slot,
}

impl Protocol for Client {
    fn connection_made(&mut self, _: &Transport) {
        self.made.set(self.made.get() + 1);
        if self.made.get() == 3 {
            let service = self.service.borrow().clone().expect("service set");
            let reactor = self.reactor.clone();
            self.reactor.call_later(Duration::ZERO, move || {
                service
                    .stop_service()
                    .add_callback(move |()| util::stop(&reactor));
            });
        }
    }
}

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The `Scheduling retry` lines logged on this thread so far.
fn retry_lines() -> Vec<String> {
    util::texts()
        .into_iter()
        .filter(|t| t.starts_with("Scheduling retry"))
        .collect()
}

/// The server closes each connection; the service reconnects after each
/// close (waiting its policy's 20 ms) until stopped at the third.
#[test]
fn reconnects_after_each_close() {
    let reactor = reactor();
    let accepted = Rc::new(Cell::new(0u32));
    let a = accepted.clone();
    let port = reactor
        .listen_tcp_with(
            0,
            for_protocol(move || {
                a.set(a.get() + 1);
                Closer
            }),
            loopback(),
        )
        .unwrap()
        .address()
        .port();

    let made = Rc::new(Cell::new(0u32));
    let slot: Slot = Rc::new(RefCell::new(None));
    let (r, m, s) = (reactor.clone(), made.clone(), slot.clone());
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
    let service = ClientService::new(
        &reactor,
        endpoint,
        for_protocol(move || Client {
            reactor: r.clone(),
            made: m.clone(),
            service: s.clone(),
        }),
    )
    .with_retry_policy(|_| RETRY);
    *slot.borrow_mut() = Some(service.clone());
    service.start_service();
    run_for(&reactor, LIMIT);

    assert_eq!(made.get(), 3);
    assert_eq!(accepted.get(), 3);
    assert!(!service.is_running());
    let expected =
        format!("Scheduling retry 1 to connect tcp:host=127.0.0.1:port={port} in 0.02 seconds.");
    let lines = retry_lines();
    assert!(
        (2..=3).contains(&lines.len()) && lines.iter().all(|l| *l == expected),
        "a disconnect is always the first failure again: {lines:#?}"
    );
    slot.borrow_mut().take();
}

/// Refused twice: `when_connected(Some(2))` fails with the refusal; each
/// attempt started and stopped the user's factory.
#[test]
fn refused_fails_when_connected() {
    let reactor = reactor();
    let port = closed_port();
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
    let service = ClientService::new(&reactor, endpoint, for_protocol(|| Closer))
        .with_retry_policy(|_| RETRY);
    service.start_service();
    let seen: Rc<RefCell<Option<Result<(), Failure>>>> = Rc::new(RefCell::new(None));
    let (out, s, r) = (seen.clone(), service.clone(), reactor.clone());
    service.when_connected(Some(2)).consume(move |result| {
        *out.borrow_mut() = Some(result.map(drop));
        s.stop_service().add_callback(move |()| util::stop(&r));
    });
    run_for(&reactor, LIMIT);

    let failure = seen
        .borrow_mut()
        .take()
        .expect("when_connected fired")
        .unwrap_err();
    assert!(
        matches!(failure.check::<ConnectError>(), Some(ConnectError::Refused)),
        "{failure:?}"
    );
    assert_eq!(service.failed_attempts(), 2);
    let target = format!("tcp:host=127.0.0.1:port={port}");
    assert_eq!(
        retry_lines(),
        [
            format!("Scheduling retry 1 to connect {target} in 0.02 seconds."),
            format!("Scheduling retry 2 to connect {target} in 0.02 seconds."),
        ]
    );
    let texts = util::texts();
    let starts = texts
        .iter()
        .filter(|t| {
            t.starts_with("Starting factory <gyre::ProtocolFactory<client_service::Closer>")
        })
        .count();
    let stops = texts
        .iter()
        .filter(|t| {
            t.starts_with("Stopping factory <gyre::ProtocolFactory<client_service::Closer>")
        })
        .count();
    assert_eq!((starts, stops), (2, 2), "{texts:#?}");
}

/// The log lines of the back-off, Python-style seconds included, on a
/// memory reactor with no jitter; a lost connection starts over at 1.5 s.
#[test]
fn retry_log_lines() {
    util::capture_logs();
    let reactor = MemoryReactor::new();
    let endpoint = TcpClientEndpoint::new(&reactor, "example.test", 7);
    let service =
        ClientService::new(&reactor, endpoint, for_protocol(|| Closer)).with_retry_policy(
            backoff_policy(Duration::from_secs(1), Duration::from_secs(60), 1.5, || {
                Duration::ZERO
            }),
        );
    service.start_service();
    let waits = [
        "1.5",
        "2.25",
        "3.375",
        "5.0625",
        "7.59375",
        "11.390625",
        "17.0859375",
        "25.62890625",
        "38.443359375",
        "57.6650390625",
        "60.0",
        "60.0",
    ];
    for _ in waits {
        let client = reactor.tcp_clients().pop().unwrap();
        client
            .factory
            .client_connection_failed(&client.connector, &ConnectError::Refused);
        reactor.advance(Duration::from_secs(60));
    }
    let client = reactor.tcp_clients().pop().unwrap();
    let mut protocol = client
        .factory
        .build_protocol(&Address::tcp("192.0.2.7:7".parse().unwrap()))
        .unwrap();
    StringTransport::new().make_connection(&mut protocol);
    protocol.connection_lost(Reason::Done);
    client
        .factory
        .client_connection_lost(&client.connector, &Reason::Done);

    let mut expected: Vec<String> = waits
        .iter()
        .enumerate()
        .map(|(i, w)| {
            format!(
                "Scheduling retry {} to connect tcp:host=example.test:port=7 in {w} seconds.",
                i + 1
            )
        })
        .collect();
    expected
        .push("Scheduling retry 1 to connect tcp:host=example.test:port=7 in 1.5 seconds.".into());
    assert_eq!(retry_lines(), expected);
    assert_eq!(service.stop_service().peek(), Some(true));
}
