//! UNIX stream sockets on real sockets in temporary directories:
//! `listen_unix` (socket-file mode, stale and live socket files, the PID
//! lock, abstract names, log lines), `connect_unix` (the `ClientFactory`
//! callbacks, missing paths, dead sockets, `check_pid`), addresses and peer
//! credentials, descriptor passing (`SCM_RIGHTS`), and the `unix:` endpoint strings end to end (reference
//! §1.9, §17.2, §6.3). The shared connection behaviour (producers,
//! half-close, pause/resume, the 64 KiB rule) runs over listened UNIX
//! sockets in `transport.rs`, `producers.rs` and `bounded.rs`
//! (`over_both_kinds!`, `unix_port::`).

mod util;

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use gyre::endpoint::{
    ClientEndpointExt, ServerEndpointExt, client_from_string, server_from_string,
};
use gyre::unix::{UnixConnectOptions, UnixListenOptions, abstract_name};
use gyre::{
    Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason, Shared,
    Transport, for_protocol,
};
use util::{Events, TempDir, assert_in_order, join, peer, run_for};

const LIMIT: Duration = Duration::from_secs(5);

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().expect("reactor")
}

/// Echoes, and records the addresses and credentials it sees.
struct Echo {
    seen: Events,
}

impl Protocol for Echo {
    fn connection_made(&mut self, t: &Transport) {
        let creds = t
            .peer_credentials()
            .map(|c| format!("pid={} uid={} gid={}", c.pid, c.uid, c.gid))
            .unwrap_or_else(|e| e.to_string());
        self.seen.push(format!(
            "server host={} peer={} prefix={} {creds}",
            t.host(),
            t.peer(),
            t.log_prefix()
        ));
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        t.write(data);
    }
}

/// A named factory (its name appears in `… starting on '<path>'`).
#[derive(Default)]
struct EchoFactory {
    seen: Events,
}

impl Factory for EchoFactory {
    type Protocol = Echo;
    fn build_protocol(&self, addr: &Address) -> Option<Echo> {
        self.seen.push(format!("build_protocol {addr}"));
        Some(Echo {
            seen: self.seen.clone(),
        })
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn lock_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The process id of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A blocking client that sends `msg` and reads the echo.
fn echo_once(path: PathBuf, msg: &'static [u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
    s.write_all(msg).unwrap();
    util::read_n(&mut s, msg.len())
}

/// The socket file gets mode 0o666 by default and the mode asked for
/// otherwise, whatever the umask; the port serves; stopping it removes the
/// file. Log lines as Twisted's: `EchoFactory starting on '<path>'` (the
/// path quoted), `(UNIX Port <path> Closed)` (not quoted).
#[test]
fn listen_mode_log_lines_and_removal() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("echo.sock");
    let factory = Shared::new(EchoFactory::default());
    let port = reactor.listen_unix(&path, factory.clone()).unwrap();
    assert!(is_socket(&path));
    assert_eq!(mode_of(&path), 0o666);
    assert_eq!(port.host(), Address::unix(Some(&path)));
    assert_eq!(
        port.host().to_string(),
        format!("UNIXAddress('{}')", path.display())
    );
    let private = dir.join("private.sock");
    let options = UnixListenOptions {
        mode: 0o600,
        ..Default::default()
    };
    let second = reactor
        .listen_unix_with(
            &private,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
            options,
        )
        .unwrap();
    assert_eq!(mode_of(&private), 0o600);
    second.stop_listening();

    let p = path.clone();
    // A plain thread, not `peer`: a peer stops the reactor when it ends,
    // which could come between `stop_listening` and the close it
    // schedules, and then (as in Twisted, whose close is a `callLater(0)`)
    // the close never runs. The timer below stops the reactor itself.
    let client = std::thread::spawn(move || echo_once(p, b"over unix"));
    let r = reactor.clone();
    let p = port.clone();
    reactor.call_later(Duration::from_millis(1), move || {
        // Stop once the client got its echo: checked by a timer, so the
        // reactor is stopped from its own thread.
        fn wait(r: Reactor, port: gyre::ListeningPort, f: Shared<EchoFactory>) {
            if f.seen.get().len() >= 2 {
                let done = port.stop_listening();
                let r2 = r.clone();
                done.on_complete(move || util::stop(&r2));
            } else {
                r.clone()
                    .call_later(Duration::from_millis(1), move || wait(r, port, f));
            }
        }
        wait(r, p, factory.clone());
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"over unix");
    assert!(!path.exists(), "the socket file is removed at stop");
    let shown = path.display().to_string();
    assert_in_order(
        &util::texts(),
        &[
            &format!("EchoFactory starting on '{shown}'"),
            "Starting factory <unix::EchoFactory object at 0x",
            &format!("(UNIX Port {shown} Closed)"),
            "Stopping factory <unix::EchoFactory object at 0x",
        ],
    );
}

/// Addresses as Twisted reports them: the server's host is the path and
/// its peer unnamed (`build_protocol(UNIXAddress(None))`), the log prefix
/// `Echo,0,`; the client's host is unnamed and its peer the path. Both
/// ends see the other's credentials (this process).
#[test]
fn addresses_prefix_and_credentials() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("addr.sock");
    let factory = Shared::new(EchoFactory::default());
    reactor.listen_unix(&path, factory.clone()).unwrap();
    let client_seen = Events::default();
    struct Cli(Events, Reactor);
    impl Protocol for Cli {
        fn connection_made(&mut self, t: &Transport) {
            let c = t.peer_credentials().unwrap();
            self.0.push(format!(
                "client host={} peer={} pid={} uid={}",
                t.host(),
                t.peer(),
                c.pid,
                c.uid
            ));
            t.write(b"x");
        }
        fn data_received(&mut self, t: &Transport, _: &[u8]) {
            t.lose_connection();
        }
        fn connection_lost(&mut self, _: Reason) {
            util::stop(&self.1);
        }
    }
    let (e, r) = (client_seen.clone(), reactor.clone());
    reactor.connect_unix(&path, for_protocol(move || Cli(e.clone(), r.clone())));
    run_for(&reactor, LIMIT);
    let pid = std::process::id();
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let shown = path.display();
    assert_eq!(
        factory.seen.get(),
        vec![
            "build_protocol UNIXAddress(None)".to_string(),
            format!(
                "server host=UNIXAddress('{shown}') peer=UNIXAddress(None) prefix=Echo,0, \
                 pid={pid} uid={uid} gid={gid}"
            ),
        ]
    );
    assert_eq!(
        client_seen.get(),
        vec![format!(
            "client host=UNIXAddress(None) peer=UNIXAddress('{shown}') pid={pid} uid={uid}"
        )]
    );
}

/// A socket file nobody listens on any more (its server died) is replaced;
/// a live one is an error naming the path; a regular file is left alone.
#[test]
fn stale_socket_replaced_live_socket_refused() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("stale.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(is_socket(&path), "a stale socket file is left behind");
    let port = reactor
        .listen_unix(
            &path,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
        )
        .expect("a stale socket file is replaced");
    UnixStream::connect(&path).expect("the new port listens");
    port.stop_listening();

    let live = dir.join("live.sock");
    let _holder = UnixListener::bind(&live).unwrap();
    let err = reactor
        .listen_unix(
            &live,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Couldn't listen on {}: Address already in use.",
            live.display()
        )
    );
    UnixStream::connect(&live).expect("the live socket is untouched");

    let file = dir.join("regular");
    std::fs::write(&file, b"data").unwrap();
    let err = reactor
        .listen_unix(
            &file,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
        )
        .unwrap_err();
    assert!(err.to_string().contains("Address already in use"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"data");
}

/// `want_pid`: the lock `<path>.lock` is a symbolic link naming this
/// process; a second locked listener gets `Cannot acquire lock`; stopping
/// releases it. A lock left by a dead process is taken over, and the dead
/// owner's socket file with it.
#[test]
fn pid_lock() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("locked.sock");
    let locked = UnixListenOptions {
        want_pid: true,
        ..Default::default()
    };
    let factory = || {
        for_protocol(|| Echo {
            seen: Events::default(),
        })
    };
    let port = reactor
        .listen_unix_with(&path, factory(), locked.clone())
        .unwrap();
    let lock = lock_of(&path);
    assert_eq!(
        std::fs::read_link(&lock).unwrap(),
        Path::new(&std::process::id().to_string())
    );
    let err = reactor
        .listen_unix_with(&path, factory(), locked.clone())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Couldn't listen on {}: Cannot acquire lock.",
            path.display()
        )
    );
    port.stop_listening();
    assert!(!lock.exists() && std::fs::symlink_metadata(&lock).is_err());
    assert!(!path.exists());

    // A dead owner's lock and socket file.
    drop(UnixListener::bind(&path).unwrap());
    std::os::unix::fs::symlink(dead_pid().to_string(), &lock).unwrap();
    let port = reactor
        .listen_unix_with(&path, factory(), locked)
        .expect("a stale lock is taken over");
    assert_eq!(
        std::fs::read_link(&lock).unwrap(),
        Path::new(&std::process::id().to_string())
    );
    UnixStream::connect(&path).expect("listening");
    port.stop_listening();
}

/// A Linux abstract name has no file; it is shown as `@name`.
#[test]
fn abstract_names() {
    let reactor = reactor();
    let name = format!("gyre-test-{}-abstract", std::process::id());
    let path = abstract_name(&name);
    let factory = Shared::new(EchoFactory::default());
    let port = reactor.listen_unix(&path, factory.clone()).unwrap();
    assert_eq!(port.host().to_string(), format!("UNIXAddress('@{name}')"));
    let p = path.clone();
    let client = peer(&reactor, move || {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(
            &p.as_os_str().as_encoded_bytes()[1..],
        )
        .unwrap();
        let mut s = UnixStream::connect_addr(&addr).unwrap();
        s.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
        s.write_all(b"abstract").unwrap();
        util::read_n(&mut s, 8)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"abstract");
    port.stop_listening();
    assert!(util::texts().contains(&format!("EchoFactory starting on '@{name}'")));
}

/// A client factory that records its callbacks.
#[derive(Default)]
struct Record {
    events: Events,
    reactor: RefCell<Option<Reactor>>,
    failure: RefCell<Option<ConnectError>>,
}

impl Factory for Record {
    type Protocol = Hello;
    fn build_protocol(&self, addr: &Address) -> Option<Hello> {
        self.events.push(format!("build_protocol {addr}"));
        Some(Hello(self.events.clone()))
    }
}

impl ClientFactory for Record {
    fn started_connecting(&self, _: &Connector) {
        self.events.push("started_connecting");
    }
    fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
        self.events
            .push(format!("client_connection_failed {reason}"));
        *self.failure.borrow_mut() = Some(reason.clone());
        if let Some(r) = &*self.reactor.borrow() {
            util::stop(r);
        }
    }
    fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
        self.events.push(format!("client_connection_lost {reason}"));
        if let Some(r) = &*self.reactor.borrow() {
            util::stop(r);
        }
    }
}

struct Hello(Events);

impl Protocol for Hello {
    fn connection_made(&mut self, t: &Transport) {
        self.0.push("connection_made");
        t.write(b"hi");
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.0
            .push(format!("data_received {}", String::from_utf8_lossy(data)));
        t.lose_connection();
    }
}

fn record(reactor: &Reactor) -> Shared<Record> {
    let f = Shared::new(Record::default());
    *f.reactor.borrow_mut() = Some(reactor.clone());
    f
}

/// `connect_unix` drives the `ClientFactory` as `connect_tcp` does:
/// `started_connecting` at once, `build_protocol(UNIXAddress('<path>'))`,
/// `connection_made`, and `client_connection_lost` at the end.
#[test]
fn connect_unix_client_factory_sequence() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("c.sock");
    reactor
        .listen_unix(
            &path,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
        )
        .unwrap();
    let f = record(&reactor);
    let connector = reactor.connect_unix(&path, f.clone());
    assert_eq!(f.events.get(), vec!["started_connecting"]);
    assert_eq!(
        connector.destination_address(),
        Some(Address::unix(Some(&path)))
    );
    run_for(&reactor, LIMIT);
    assert_eq!(
        f.events.get(),
        vec![
            "started_connecting".to_string(),
            format!("build_protocol UNIXAddress('{}')", path.display()),
            "connection_made".to_string(),
            "data_received hi".to_string(),
            "client_connection_lost Connection was closed cleanly.".to_string(),
        ]
    );
}

/// Connecting to a missing path fails with errno 2 in Twisted's words; to
/// a dead socket or a regular file, refused.
#[test]
fn connect_failures() {
    let reactor = reactor();
    let dir = TempDir::new();
    let missing = dir.join("missing.sock");
    let f = record(&reactor);
    reactor.connect_unix(&missing, f.clone());
    run_for(&reactor, LIMIT);
    assert_eq!(
        f.events.get(),
        vec![
            "started_connecting",
            "client_connection_failed An error occurred while connecting: 2: No such file or directory."
        ]
    );

    let dead = dir.join("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    let regular = dir.join("regular");
    std::fs::write(&regular, b"").unwrap();
    for path in [dead, regular] {
        let reactor = Reactor::new().unwrap();
        let f = record(&reactor);
        reactor.connect_unix(&path, f.clone());
        run_for(&reactor, LIMIT);
        assert!(
            matches!(&*f.failure.borrow(), Some(ConnectError::Refused)),
            "{path:?}: {:?}",
            f.events.get()
        );
    }
}

/// `check_pid`: with no live lock the attempt fails with `BadFile` (and
/// removes a stale lock); with the server's lock held it connects.
#[test]
fn check_pid() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("p.sock");
    let checked = UnixConnectOptions {
        check_pid: true,
        ..Default::default()
    };
    let port = reactor
        .listen_unix(
            &path,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
        )
        .unwrap();
    let lock = lock_of(&path);
    std::os::unix::fs::symlink(dead_pid().to_string(), &lock).unwrap();
    let f = record(&reactor);
    reactor.connect_unix_with(&path, f.clone(), checked.clone());
    run_for(&reactor, LIMIT);
    assert_eq!(
        f.events.get(),
        vec![
            "started_connecting".to_string(),
            format!(
                "client_connection_failed File used for UNIX socket is no good: {}.",
                path.display()
            )
        ]
    );
    assert!(
        std::fs::symlink_metadata(&lock).is_err(),
        "stale lock removed"
    );
    port.stop_listening();

    let locked = UnixListenOptions {
        want_pid: true,
        ..Default::default()
    };
    let reactor = Reactor::new().unwrap();
    reactor
        .listen_unix_with(
            &path,
            for_protocol(|| Echo {
                seen: Events::default(),
            }),
            locked,
        )
        .unwrap();
    let f = record(&reactor);
    reactor.connect_unix_with(&path, f.clone(), checked);
    run_for(&reactor, LIMIT);
    assert!(
        f.events.get().contains(&"data_received hi".to_string()),
        "{:?}",
        f.events.get()
    );
}

/// The `unix:` strings end to end: a server from `unix:PATH:mode=600`
/// (with its lock, as Twisted's strings default to) and a client from
/// `unix:path=PATH:lockfile=1`, echoing.
#[test]
fn endpoint_strings_end_to_end() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("s.sock");
    let server =
        server_from_string(&reactor, &format!("unix:{}:mode=600", path.display())).unwrap();
    let listened = Rc::new(RefCell::new(None));
    let l = listened.clone();
    server
        .listen(for_protocol(|| Echo {
            seen: Events::default(),
        }))
        .add_callback(move |port| *l.borrow_mut() = Some(port));
    assert!(listened.borrow().is_some());
    assert_eq!(mode_of(&path), 0o600);
    assert!(
        std::fs::symlink_metadata(lock_of(&path)).is_ok(),
        "lockfile on by default"
    );
    let client = client_from_string(
        &reactor,
        &format!("unix:path={}:lockfile=1", path.display()),
    )
    .unwrap();
    let got = Events::default();
    struct Once(Events, Reactor);
    impl Protocol for Once {
        fn connection_made(&mut self, t: &Transport) {
            t.write(b"string");
        }
        fn data_received(&mut self, _: &Transport, data: &[u8]) {
            self.0.push(String::from_utf8_lossy(data));
            util::stop(&self.1);
        }
    }
    let (g, r) = (got.clone(), reactor.clone());
    client.connect(for_protocol(move || Once(g.clone(), r.clone())));
    run_for(&reactor, LIMIT);
    assert_eq!(got.get(), vec!["string"]);
    let port = listened.borrow_mut().take().unwrap();
    port.stop_listening();
    assert!(!path.exists());
    assert!(std::fs::symlink_metadata(lock_of(&path)).is_err());
}

/// Stopping the port leaves its connections open: a connection made
/// before the stop still echoes after it, and the file is gone.
#[test]
fn stopping_the_port_keeps_connections() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("k.sock");
    let port: Rc<RefCell<Option<gyre::ListeningPort>>> = Rc::default();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// Echoes; the first data stops the port and tells the client.
    struct StopPort(
        Rc<RefCell<Option<gyre::ListeningPort>>>,
        std::sync::mpsc::Sender<()>,
    );
    impl Protocol for StopPort {
        fn data_received(&mut self, t: &Transport, data: &[u8]) {
            if let Some(port) = self.0.borrow_mut().take() {
                port.stop_listening();
                let _ = self.1.send(());
            }
            t.write(data);
        }
    }
    let (p, tx) = (port.clone(), tx);
    *port.borrow_mut() = Some(
        reactor
            .listen_unix(&path, for_protocol(move || StopPort(p.clone(), tx.clone())))
            .unwrap(),
    );
    let sock = path.clone();
    let client = peer(&reactor, move || {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
        s.write_all(b"1").unwrap();
        rx.recv_timeout(util::PEER_TIMEOUT).unwrap();
        let first = util::read_n(&mut s, 1);
        let gone = !sock.exists();
        s.write_all(b"2").unwrap();
        let second = util::read_n(&mut s, 1);
        (first, gone, second)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), (b"1".to_vec(), true, b"2".to_vec()));
}

/// Sends `fd` and one byte over `s` (`SCM_RIGHTS`), as a peer process would.
fn send_fd(s: &UnixStream, fd: std::os::fd::BorrowedFd<'_>) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let fds = [fd];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    sendmsg(
        s,
        &[std::io::IoSlice::new(b"f")],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
}

/// Receives up to 16 bytes and the descriptors that came with them.
fn recv_fds(s: &UnixStream) -> (Vec<u8>, Vec<std::os::fd::OwnedFd>) {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 16];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let got = recvmsg(s, &mut iov, &mut control, RecvFlags::empty()).unwrap();
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    (buf[..got.bytes].to_vec(), fds)
}

/// A descriptor passed by the client (`SCM_RIGHTS` with one byte) is
/// there for the protocol by the time that byte reaches `data_received`
/// (Twisted's `fileDescriptorReceived`); the server reads the file through
/// it and answers with its contents.
#[test]
fn descriptors_received() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("fds.sock");
    let file = dir.join("note.txt");
    std::fs::write(&file, b"passed by descriptor").unwrap();
    struct ReadPassed(Events);
    impl Protocol for ReadPassed {
        fn data_received(&mut self, t: &Transport, data: &[u8]) {
            let fds = t.received_file_descriptors();
            self.0
                .push(format!("{} bytes, {} descriptors", data.len(), fds.len()));
            for fd in fds {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
                t.write(text.as_bytes());
            }
            t.lose_connection();
        }
    }
    let seen = Events::default();
    let s = seen.clone();
    reactor
        .listen_unix(&path, for_protocol(move || ReadPassed(s.clone())))
        .unwrap();
    let p = path.clone();
    let client = peer(&reactor, move || {
        let mut s = UnixStream::connect(&p).unwrap();
        s.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
        let f = std::fs::File::open(&file).unwrap();
        send_fd(&s, std::os::fd::AsFd::as_fd(&f));
        util::read_to_eof(&mut s)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"passed by descriptor");
    assert_eq!(seen.get(), vec!["1 bytes, 1 descriptors"]);
}

/// `send_file_descriptor` passes a descriptor with the next bytes written
/// (Twisted's `sendFileDescriptor`); the client reads the file through its
/// copy.
#[test]
fn descriptors_sent() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("send.sock");
    let file = dir.join("server.txt");
    std::fs::write(&file, b"from the server").unwrap();
    struct Pass(PathBuf, Events);
    impl Protocol for Pass {
        fn connection_made(&mut self, t: &Transport) {
            let f = std::fs::File::open(&self.0).unwrap();
            let sent = t.send_file_descriptor(f.into());
            self.1.push(format!("{sent:?}"));
            t.write(b"f");
            t.lose_connection();
        }
    }
    let seen = Events::default();
    let (f, s) = (file.clone(), seen.clone());
    reactor
        .listen_unix(&path, for_protocol(move || Pass(f.clone(), s.clone())))
        .unwrap();
    let p = path.clone();
    let client = peer(&reactor, move || {
        let s = UnixStream::connect(&p).unwrap();
        s.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
        let (bytes, fds) = recv_fds(&s);
        let texts: Vec<String> = fds
            .into_iter()
            .map(|fd| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text).unwrap();
                text
            })
            .collect();
        (bytes, texts)
    });
    run_for(&reactor, LIMIT);
    let (bytes, texts) = join(client);
    assert_eq!(bytes, b"f");
    assert_eq!(texts, vec!["from the server"]);
    assert_eq!(seen.get(), vec!["Ok(())"]);
}

/// Passing a descriptor over a transport that cannot is `Unsupported`,
/// and nothing is received there.
#[test]
fn descriptors_unsupported_elsewhere() {
    let st = gyre::testing::StringTransport::new();
    let t = st.transport();
    let f = std::fs::File::open("/dev/null").unwrap();
    let err = t.send_file_descriptor(f.into()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(t.received_file_descriptors().is_empty());
}

/// A UNIX client's callbacks run under Twisted's systems for a client
/// (Twisted 24, `connectUNIX` with a `ClientFactory`, run here):
/// `connectionMade` under `-` (unlike TCP's `Uninitialized`), then
/// `dataReceived` and `connectionLost` under `Cli,client`.
#[test]
fn client_callbacks_log_under_twisted_systems() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("sys.sock");
    reactor
        .listen_unix(&path, Shared::new(EchoFactory::default()))
        .unwrap();
    struct Cli(Reactor);
    impl Protocol for Cli {
        fn connection_made(&mut self, t: &Transport) {
            log::info!("client connection_made");
            t.write(b"x");
        }
        fn data_received(&mut self, t: &Transport, _: &[u8]) {
            log::info!("client data_received");
            t.lose_connection();
        }
        fn connection_lost(&mut self, _: Reason) {
            log::info!("client connection_lost");
            util::stop(&self.0);
        }
    }
    let r = reactor.clone();
    reactor.connect_unix(&path, for_protocol(move || Cli(r.clone())));
    run_for(&reactor, LIMIT);
    let system = |text: &str| {
        let lines = util::lines_containing(text);
        assert_eq!(lines.len(), 1, "{text} logged once");
        lines[0].system.clone()
    };
    assert_eq!(system("client connection_made"), "-");
    assert_eq!(system("client data_received"), "Cli,client");
    assert_eq!(system("client connection_lost"), "Cli,client");
}
