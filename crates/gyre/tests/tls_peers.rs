//! gyre's TLS against a real peer: `openssl s_client` against a gyre
//! server and a gyre client against `openssl s_server`, on 127.0.0.1, each
//! with TLS 1.2 and with TLS 1.3 forced on the openssl side. openssl must
//! be installed (scripts/test-all installs it): without it these tests
//! fail, they never skip.

mod tls_kit;
mod util;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use gyre::endpoint::{ServerEndpointExt, TcpClientEndpoint, TcpServerEndpoint};
use gyre::endpoint::{TlsClientEndpoint, TlsServerEndpoint};
use gyre::testing::success_result_of;
use gyre::tls::{ClientTls, ServerTls};
use gyre::{Protocol, Reactor, Reason, Transport, for_protocol};
use tls_kit::Ca;
use util::run_for;

const LIMIT: Duration = Duration::from_secs(20);

struct Files {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca_der: gyre::tls::pki_types::CertificateDer<'static>,
    leaf: tls_kit::Leaf,
}

fn files(tag: &str) -> Files {
    let dir = tls_kit::temp_dir(tag);
    let ca = Ca::new("gyre interop CA");
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

fn openssl() -> Command {
    Command::new("openssl")
}

fn spawn(mut command: Command) -> Child {
    command
        .spawn()
        .expect("openssl is not installed: scripts/test-all installs it (apt-get install openssl)")
}

/// Answers one line with "gyre got: LINE", then closes (close_notify).
struct OneLine {
    buf: Vec<u8>,
}
impl Protocol for OneLine {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.buf.extend_from_slice(data);
        if self.buf.ends_with(b"\n") {
            t.write(b"gyre got: ");
            t.write(&self.buf);
            t.lose_connection();
        }
    }
}

fn s_client_against_gyre(version: &str) {
    let f = files(&format!("s-client{version}"));
    let reactor = Reactor::new().unwrap();
    let tls = ServerTls::builder()
        .certificate(f.leaf.chain(), f.leaf.key())
        .build()
        .unwrap();
    let tcp = TcpServerEndpoint::new(&reactor, 0).with_interface("127.0.0.1");
    let endpoint = TlsServerEndpoint::new(&reactor, Box::new(tcp), tls);
    let port = success_result_of(&endpoint.listen(for_protocol(|| OneLine { buf: Vec::new() })))
        .address()
        .port();
    let ca = f.ca.clone();
    let flag = version.to_string();
    let peer = util::peer(&reactor, move || {
        let mut command = openssl();
        command
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .arg("-CAfile")
            .arg(&ca)
            .args(["-verify_return_error", "-brief", &flag])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn(command);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello from openssl\n").unwrap();
        // stdin stays open: s_client ends when gyre closes.
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        drop(stdin);
        let status = child.wait().unwrap();
        (status, out, err)
    });
    run_for(&reactor, LIMIT);
    let (status, out, err) = util::join(peer);
    assert!(status.success(), "{status:?}\n{err}");
    assert_eq!(out, "gyre got: hello from openssl\n", "{err}");
    let expected = match version {
        "-tls1_2" => "Protocol version: TLSv1.2",
        _ => "Protocol version: TLSv1.3",
    };
    assert!(err.contains(expected), "{err}");
    assert!(err.contains("Verification: OK"), "{err}");
}

#[test]
fn openssl_s_client_tls12_against_a_gyre_server() {
    s_client_against_gyre("-tls1_2");
}

#[test]
fn openssl_s_client_tls13_against_a_gyre_server() {
    s_client_against_gyre("-tls1_3");
}

/// Sends a line to `s_server -rev`, reads the reversed line, closes.
struct Rev {
    got: Rc<RefCell<Vec<u8>>>,
    lost: Rc<RefCell<Option<Reason>>>,
    reactor: Reactor,
}
impl Protocol for Rev {
    fn connection_made(&mut self, t: &Transport) {
        t.write(b"hello from gyre\n");
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.got.borrow_mut().extend_from_slice(data);
        if self.got.borrow().ends_with(b"\n") {
            t.lose_connection();
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        *self.lost.borrow_mut() = Some(reason);
        self.reactor.stop().unwrap();
    }
}

fn gyre_against_s_server(version: &str) {
    let f = files(&format!("s-server{version}"));
    let mut command = openssl();
    command
        .args(["s_server", "-accept", "127.0.0.1:0", "-rev", version])
        .arg("-cert")
        .arg(&f.cert)
        .arg("-key")
        .arg(&f.key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut server = spawn(command);
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .expect("s_server said which port it listens on")
            .unwrap();
        if let Some(addr) = line.strip_prefix("ACCEPT ") {
            break addr.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
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
    let fl = failed.clone();
    let r = reactor.clone();
    gyre::endpoint::connect_protocol(
        &endpoint,
        Rev {
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
    run_for(&reactor, LIMIT);
    // s_server buffers what it prints when it is not on a terminal, so it
    // cannot tell the version here; it accepts only the version it was
    // given, so the exchange itself proves which one was spoken.
    drop(lines);
    let _ = server.kill();
    let _ = server.wait();
    assert!(failed.borrow().is_none(), "{:?}", failed.borrow());
    assert_eq!(&*got.borrow(), b"eryg morf olleh\n");
    assert!(lost.borrow().is_some());
}

#[test]
fn a_gyre_client_tls12_against_openssl_s_server() {
    gyre_against_s_server("-tls1_2");
}

#[test]
fn a_gyre_client_tls13_against_openssl_s_server() {
    gyre_against_s_server("-tls1_3");
}
