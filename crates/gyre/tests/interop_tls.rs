//! gyre's TLS against Python Twisted's (pyOpenSSL, in the venv that
//! `scripts/setup-twisted-venv` builds with `twisted[tls]`), both ways on
//! 127.0.0.1: a Twisted `SSL4ServerEndpoint` answering a gyre TLS client,
//! and a Twisted `connectSSL` client (verifying the host name with
//! `optionsForClientTLS`) against a gyre TLS server. The peer is
//! `tests/interop/twisted_tls_peer.py`. Without the venv these tests fail,
//! never skip: the interpreter is `$GYRE_TWISTED_PYTHON`, else
//! `<repo>/.venv/bin/python`.

mod tls_kit;
mod util;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use gyre::endpoint::{ServerEndpointExt, TcpClientEndpoint, TcpServerEndpoint};
use gyre::endpoint::{TlsClientEndpoint, TlsServerEndpoint};
use gyre::testing::success_result_of;
use gyre::tls::{ClientTls, ServerTls};
use gyre::{Protocol, Reactor, Reason, Transport, for_protocol};
use tls_kit::Ca;

const LIMIT: Duration = Duration::from_secs(30);

/// The venv's Python, with Twisted's TLS importable; panics (failing the
/// test) saying what to run when there is none.
fn twisted_python() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/gyre is two levels down")
        .to_path_buf();
    let candidates = std::env::var_os("GYRE_TWISTED_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo.join(".venv/bin/python")]);
    let mut tried = Vec::new();
    for candidate in candidates {
        let ok = Command::new(&candidate)
            .args([
                "-c",
                "import twisted.internet.ssl, OpenSSL, service_identity",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return candidate;
        }
        tried.push(candidate.display().to_string());
    }
    panic!(
        "Twisted venv with TLS missing: run scripts/setup-twisted-venv (tried {})",
        tried.join(", ")
    );
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/twisted_tls_peer.py")
}

struct Files {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca_der: gyre::tls::pki_types::CertificateDer<'static>,
    leaf: tls_kit::Leaf,
}

fn files(tag: &str) -> Files {
    let dir = tls_kit::temp_dir(tag);
    let ca = Ca::new("gyre twisted interop CA");
    let leaf = ca.leaf(&["localhost"]);
    let (cert, key, _) = leaf.write(&dir, "server");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    Files {
        ca: ca_file,
        cert,
        key,
        ca_der: ca.der.clone(),
        leaf,
    }
}

/// Sends two lines ("hello from gyre", then "quit"), collects what comes
/// back, stops the reactor when the connection ends.
struct Talker {
    got: Rc<RefCell<Vec<u8>>>,
    lost: Rc<RefCell<Option<Reason>>>,
    reactor: Reactor,
}
impl Protocol for Talker {
    fn connection_made(&mut self, t: &Transport) {
        t.write(b"hello from gyre\r\n");
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.got.borrow_mut().extend_from_slice(data);
        if self.got.borrow().ends_with(b"\r\n") {
            t.write(b"quit\r\n");
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        *self.lost.borrow_mut() = Some(reason);
        self.reactor.stop().unwrap();
    }
}

#[test]
fn a_gyre_client_against_twisted_ssl4_server_endpoint() {
    let python = twisted_python();
    let f = files("twisted-server");
    let mut peer = Command::new(python)
        .arg(script())
        .arg("serve")
        .arg(&f.cert)
        .arg(&f.key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Twisted peer");
    let mut lines = BufReader::new(peer.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the peer says its port").unwrap();
    let port: u16 = first
        .strip_prefix("PORT ")
        .unwrap_or_else(|| panic!("{first}"))
        .parse()
        .unwrap();
    let reactor = Reactor::new().unwrap();
    let tls = ClientTls::builder()
        .roots(vec![f.ca_der.clone()])
        .build()
        .unwrap();
    let tcp = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
    let endpoint = TlsClientEndpoint::new(&reactor, Box::new(tcp), tls, "localhost");
    let got = Rc::new(RefCell::new(Vec::new()));
    let lost = Rc::new(RefCell::new(None));
    let failed = Rc::new(RefCell::new(None));
    let (fl, r) = (failed.clone(), reactor.clone());
    gyre::endpoint::connect_protocol(
        &endpoint,
        Talker {
            got: got.clone(),
            lost: lost.clone(),
            reactor: reactor.clone(),
        },
    )
    .consume(move |outcome| {
        if let Err(e) = outcome {
            *fl.borrow_mut() = Some(e.to_string());
            r.stop().unwrap();
        }
    });
    util::run_for(&reactor, LIMIT);
    let said: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = peer.wait().unwrap();
    let mut err = String::new();
    peer.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(failed.borrow().is_none(), "{:?}", failed.borrow());
    assert_eq!(&*got.borrow(), b"eryg morf olleh\r\n");
    // Twisted closes with close_notify: a clean close on both sides.
    assert!(
        matches!(*lost.borrow(), Some(Reason::Done)),
        "{:?}",
        lost.borrow()
    );
    assert_eq!(
        said,
        ["GOT hello from gyre", "GOT quit", "LOST ConnectionDone"],
        "{err}"
    );
    assert!(status.success(), "{status:?}\n{err}");
}

/// Answers each line reversed, as the Twisted peer does.
struct Reverser {
    buf: Vec<u8>,
    events: Rc<RefCell<Vec<String>>>,
    reactor: Reactor,
}
impl Protocol for Reverser {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.buf.extend_from_slice(data);
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
            self.events
                .borrow_mut()
                .push(String::from_utf8_lossy(&line).into_owned());
            let mut back: Vec<u8> = line.into_iter().rev().collect();
            back.extend_from_slice(b"\r\n");
            t.write(&back);
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.borrow_mut().push(format!("lost: {reason}"));
        self.reactor.stop().unwrap();
    }
}

#[test]
fn twisted_connect_ssl_against_a_gyre_server() {
    let python = twisted_python();
    let f = files("twisted-client");
    let reactor = Reactor::new().unwrap();
    let tls = ServerTls::builder()
        .certificate(f.leaf.chain(), f.leaf.key())
        .build()
        .unwrap();
    let tcp = TcpServerEndpoint::new(&reactor, 0).with_interface("127.0.0.1");
    let endpoint = TlsServerEndpoint::new(&reactor, Box::new(tcp), tls);
    let events = Rc::new(RefCell::new(Vec::new()));
    let (e, r) = (events.clone(), reactor.clone());
    let port = success_result_of(&endpoint.listen(for_protocol(move || Reverser {
        buf: Vec::new(),
        events: e.clone(),
        reactor: r.clone(),
    })))
    .address()
    .port();
    let (ca, script) = (f.ca.clone(), script());
    let peer = util::peer(&reactor, move || {
        let out = Command::new(python)
            .arg(script)
            .arg("connect")
            .arg(port.to_string())
            .arg(ca)
            .output()
            .expect("run the Twisted peer");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    });
    util::run_for(&reactor, LIMIT);
    let (status, out, err) = util::join(peer);
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["GOT detsiwt morf olleh", "LOST ConnectionDone"],
        "{err}"
    );
    assert_eq!(
        *events.borrow(),
        [
            "hello from twisted".to_string(),
            "lost: Connection was closed cleanly.".to_string()
        ]
    );
}
