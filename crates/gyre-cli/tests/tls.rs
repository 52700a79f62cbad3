//! TLS from the command line: `ssl:` server descriptions for a service,
//! `gyre connect tls:…` (verified by default: a server it cannot trust is
//! one line and exit 69), and `gyre portforward` terminating TLS and
//! originating it. Certificates are made at test time (rcgen, the library
//! tests' kit); no key is committed.

#[path = "../../gyre/tests/tls_kit/mod.rs"]
mod tls_kit;
#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tls_kit::Ca;
use util::Gyre;

/// A CA, a server certificate for `localhost` signed by it, and their PEM
/// files.
struct Certs {
    _dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certs(tag: &str) -> Certs {
    let dir = tls_kit::temp_dir(tag);
    let ca = Ca::new("gyre cli test CA");
    let (cert, key, _both) = ca.leaf(&["localhost"]).write(&dir, "server");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    Certs {
        _dir: dir,
        ca: ca_file,
        cert,
        key,
    }
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ssl_listen(c: &Certs) -> String {
    format!(
        "ssl:0:privateKey={}:certKey={}:interface=127.0.0.1",
        text(&c.key),
        text(&c.cert)
    )
}

/// `gyre connect ENDPOINT` with `input` on stdin; returns (exit code,
/// stdout, stderr lines).
fn connect(endpoint: &str, input: &[u8]) -> (Option<i32>, Vec<u8>, Vec<String>) {
    let mut nc = Gyre::spawn_with(&["connect", endpoint], Stdio::piped(), Stdio::piped());
    let (stdin, stdout) = nc.take_stdio();
    let (mut stdin, mut stdout) = (stdin.unwrap(), stdout.unwrap());
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    stdin.write_all(input).unwrap();
    drop(stdin);
    let status = nc.wait_exit();
    let out = reader.join().unwrap();
    (status.code(), out, nc.lines())
}

#[test]
fn a_service_on_ssl_answers_gyre_connect_over_tls() {
    let c = certs("cli-echo");
    let echo = Gyre::start(&["echo", "--listen", &ssl_listen(&c)]);
    let (code, out, lines) = connect(
        &format!(
            "tls:host=localhost:port={}:trustRoots={}",
            echo.port(),
            text(&c.ca)
        ),
        b"hello over TLS\n",
    );
    assert_eq!(code, Some(0), "{lines:?}\n{}", echo.transcript());
    assert_eq!(out, b"hello over TLS\n");
}

#[test]
fn gyre_connect_verifies_by_default_and_says_why_it_fails() {
    let c = certs("cli-verify");
    let echo = Gyre::start(&["echo", "--listen", &ssl_listen(&c)]);
    let port = echo.port();
    let (code, out, lines) = connect(&format!("tls:host=localhost:port={port}"), b"secret\n");
    assert_eq!(code, Some(69), "{lines:?}");
    assert!(out.is_empty());
    assert_eq!(
        lines,
        vec![format!(
            "gyre: cannot connect to tls:host=localhost:port={port}: TLS handshake failed: \
             certificate verify failed: the peer's certificate is self-signed or signed by an \
             untrusted authority."
        )]
    );
    // Trusting the CA but asking for another name: the name is checked.
    let (code, _out, lines) = connect(
        &format!("tls:host=127.0.0.1:port={port}:trustRoots={}", text(&c.ca)),
        b"secret\n",
    );
    assert_eq!(code, Some(69), "{lines:?}");
    assert_eq!(
        lines,
        vec![format!(
            "gyre: cannot connect to tls:host=127.0.0.1:port={port}: TLS handshake failed: \
             certificate verify failed: the peer's certificate is not valid for 127.0.0.1."
        )]
    );
}

#[test]
fn portforward_terminates_tls() {
    let c = certs("cli-terminate");
    let echo = Gyre::service("echo");
    let forward = Gyre::start(&[
        "portforward",
        "--listen",
        &ssl_listen(&c),
        "--connect",
        &format!("tcp:127.0.0.1:{}", echo.port()),
    ]);
    let (code, out, lines) = connect(
        &format!(
            "tls:host=localhost:port={}:trustRoots={}",
            forward.port(),
            text(&c.ca)
        ),
        b"through a TLS terminator\n",
    );
    assert_eq!(code, Some(0), "{lines:?}\n{}", forward.transcript());
    assert_eq!(out, b"through a TLS terminator\n");
}

#[test]
fn portforward_originates_tls_and_does_both() {
    let c = certs("cli-originate");
    let echo = Gyre::start(&["echo", "--listen", &ssl_listen(&c)]);
    let upstream = format!(
        "tls:host=localhost:port={}:trustRoots={}",
        echo.port(),
        text(&c.ca)
    );
    // Plain in, TLS out.
    let plain_in = Gyre::start(&[
        "portforward",
        "--listen",
        util::LOOPBACK_ANY_PORT,
        "--connect",
        &upstream,
    ]);
    let (code, out, lines) = connect(
        &format!("tcp:127.0.0.1:{}", plain_in.port()),
        b"plain in, TLS out\n",
    );
    assert_eq!(code, Some(0), "{lines:?}\n{}", plain_in.transcript());
    assert_eq!(out, b"plain in, TLS out\n");
    // TLS in, TLS out.
    let both = Gyre::start(&[
        "portforward",
        "--listen",
        &ssl_listen(&c),
        "--connect",
        &upstream,
    ]);
    let (code, out, lines) = connect(
        &format!(
            "tls:host=localhost:port={}:trustRoots={}",
            both.port(),
            text(&c.ca)
        ),
        b"TLS both sides\n",
    );
    assert_eq!(code, Some(0), "{lines:?}\n{}", both.transcript());
    assert_eq!(out, b"TLS both sides\n");
}
