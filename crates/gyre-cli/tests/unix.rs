//! `gyre` over UNIX sockets, end to end: every service listening on
//! `unix:PATH` (the socket file, its PID lock and the log lines, removed
//! at exit), `gyre portforward` from TCP to a UNIX socket and back, and
//! `gyre connect unix:path=…`.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use rustix::process::Signal;
use util::{Gyre, LIMIT, LOOPBACK_ANY_PORT};

/// A fresh temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("gyre-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("temporary directory");
        TempDir(path)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unix_connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect to gyre's socket");
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.set_write_timeout(Some(LIMIT)).unwrap();
    s
}

fn lock_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// `gyre SERVICE --listen unix:PATH`, waited for.
fn serve_unix(service: &str, path: &Path) -> Gyre {
    let listen = format!("unix:{}", path.display());
    let gyre = Gyre::spawn(&[service, "--listen", &listen]);
    gyre.wait_for_line(&format!(" starting on '{}'", path.display()));
    gyre
}

/// Every service listens on a UNIX socket and answers there as over TCP;
/// the socket file has mode 0o666 and, as Twisted's `unix:` strings do by
/// default, a PID lock; at exit the port's close line is logged and the
/// file and lock are gone.
#[test]
fn every_service_over_a_unix_socket() {
    let dir = TempDir::new("services");
    for service in [
        "echo", "discard", "chargen", "daytime", "qotd", "time", "chat",
    ] {
        let path = dir.join(&format!("{service}.sock"));
        let mut gyre = serve_unix(service, &path);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o666, "{service}");
        assert_eq!(
            std::fs::read_link(lock_of(&path)).unwrap(),
            Path::new(&gyre.pid().to_string()),
            "{service}"
        );
        let mut s = unix_connect(&path);
        let mut got = vec![0u8; 64];
        match service {
            "echo" => {
                s.write_all(b"over unix").unwrap();
                s.read_exact(&mut got[..9]).unwrap();
                assert_eq!(&got[..9], b"over unix");
            }
            "discard" => {
                s.write_all(b"gone").unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
            }
            "chargen" => {
                s.read_exact(&mut got[..10]).unwrap();
                // RFC 864: the printable characters from the space on.
                assert_eq!(&got[..10], b" !\"#$%&'()");
            }
            "daytime" | "qotd" | "time" => {
                let mut all = Vec::new();
                s.read_to_end(&mut all).unwrap();
                assert!(!all.is_empty(), "{service} said nothing");
                if service == "time" {
                    assert_eq!(all.len(), 4);
                }
            }
            "chat" => {
                s.write_all(b"hello\r\n").unwrap();
                let n = s.read(&mut got).unwrap();
                assert!(n > 0, "chat said nothing");
            }
            _ => unreachable!(),
        }
        drop(s);
        // The reactor is waiting for events, so its signal handling is in
        // place (a SIGTERM before that would kill it outright).
        gyre.wait_for_thread_in("gyre", "epoll_wait");
        gyre.signal(Signal::TERM);
        assert!(
            gyre.wait_exit().success(),
            "{service}: {}",
            gyre.transcript()
        );
        gyre.wait_for_line(&format!("(UNIX Port {} Closed)", path.display()));
        assert!(!path.exists(), "{service}: the socket file is removed");
        assert!(
            std::fs::symlink_metadata(lock_of(&path)).is_err(),
            "{service}: lock"
        );
    }
}

/// A second `gyre` on the same locked path is refused, naming the path,
/// exit 69; the first keeps serving.
#[test]
fn a_second_listener_on_a_locked_path_is_refused() {
    let dir = TempDir::new("locked");
    let path = dir.join("echo.sock");
    let _first = serve_unix("echo", &path);
    let listen = format!("unix:{}", path.display());
    let mut second = Gyre::spawn(&["echo", "--listen", &listen]);
    let status = second.wait_exit();
    assert_eq!(status.code(), Some(69), "{}", second.transcript());
    assert!(
        second.transcript().contains(&format!(
            "Couldn't listen on {}: Cannot acquire lock.",
            path.display()
        )),
        "{}",
        second.transcript()
    );
    let mut s = unix_connect(&path);
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
}

/// `gyre portforward` from a TCP port to a UNIX socket, and from a UNIX
/// socket to a TCP port: bytes go both ways.
#[test]
fn portforward_between_tcp_and_unix() {
    let dir = TempDir::new("forward");
    // TCP in, UNIX out.
    let upstream_path = dir.join("upstream.sock");
    let upstream = UnixListener::bind(&upstream_path).unwrap();
    let connect = format!("unix:path={}", upstream_path.display());
    let forwarder = Gyre::start(&[
        "portforward",
        "--listen",
        LOOPBACK_ANY_PORT,
        "--connect",
        &connect,
    ]);
    let mut client = forwarder.connect();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    client.write_all(b"to unix").unwrap();
    let (mut server, _) = upstream.accept().unwrap();
    server.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = [0u8; 7];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"to unix");
    server.write_all(b"from unix").unwrap();
    let mut back = [0u8; 9];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"from unix");

    // UNIX in, TCP out.
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let connect = format!("tcp:127.0.0.1:{}", tcp.local_addr().unwrap().port());
    let path = dir.join("in.sock");
    let listen = format!("unix:{}", path.display());
    let forwarder = Gyre::spawn(&["portforward", "--listen", &listen, "--connect", &connect]);
    forwarder.wait_for_line(&format!(" starting on '{}'", path.display()));
    let mut client = unix_connect(&path);
    client.write_all(b"to tcp").unwrap();
    let (mut server, _): (TcpStream, _) = tcp.accept().unwrap();
    server.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = [0u8; 6];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"to tcp");
    server.write_all(b"from tcp").unwrap();
    let mut back = [0u8; 8];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"from tcp");
}

/// `gyre connect unix:path=…` to `gyre echo` on a UNIX socket: standard
/// input goes out and the echo comes back on standard output.
#[test]
fn connect_to_a_unix_socket() {
    let dir = TempDir::new("connect");
    let path = dir.join("echo.sock");
    let _echo = serve_unix("echo", &path);
    let target = format!("unix:path={}", path.display());
    let mut nc = Gyre::spawn_with(&["connect", &target], Stdio::piped(), Stdio::piped());
    let (stdin, stdout) = nc.take_stdio();
    let (mut stdin, mut stdout) = (stdin.unwrap(), stdout.unwrap());
    stdin.write_all(b"hello over unix\n").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = [0u8; 16];
        let _ = tx.send(stdout.read_exact(&mut got).map(|()| got));
    });
    let got = rx.recv_timeout(LIMIT).expect("the echo within the limit");
    assert_eq!(&got.unwrap(), b"hello over unix\n");
    drop(stdin);
    assert!(nc.wait_exit().success(), "{}", nc.transcript());
}
