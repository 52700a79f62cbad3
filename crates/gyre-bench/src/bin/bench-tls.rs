//! The TLS benchmark: `gyre echo` on an `ssl:` endpoint beside tokio +
//! tokio-rustls (`bench-server tokio-tls`: the same rustls version and the
//! same `ring` provider, current-thread runtime) and Twisted's TLS
//! (`twisted_tls_echo.py`, pyOpenSSL), each in a fresh process per
//! measurement, servers interleaved round by round.
//!
//! ```text
//! cargo run --release -p gyre-bench --bin bench-tls -- [--quick] [--rounds N]
//!     [--duration S] [--servers gyre,tokio-tls,twisted]
//! ```
//!
//! Scenarios (the load client is tokio + tokio-rustls on one thread, and
//! checks every echoed byte):
//!
//! * `bulk`: one connection, 1 MiB writes echoed back: MiB/s and server
//!   CPU per MiB;
//! * `pingpong-50`: 50 connections each sending 64 bytes and waiting for
//!   them: messages/s and server CPU per message;
//! * `handshakes`: 8 clients in a loop of fresh connection, full TLS 1.3
//!   handshake (no resumption), one 64-byte echo, close: handshakes/s and
//!   server CPU per handshake.
//!
//! Medians over the rounds; ratios of gyre's server CPU per operation to
//! tokio-rustls's (target ≤ 1) and of Twisted's to gyre's (target ≥ 5).
//! Certificates (an EC P-256 CA and a leaf for `localhost`) are made with
//! `openssl` at start. Exits non-zero when an echoed byte is wrong or a
//! server fails to start; the figures themselves never fail it.

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use gyre_bench::procfs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// TLS benchmarks of gyre beside tokio-rustls and Twisted.
#[derive(Debug, Parser)]
struct Args {
    /// Every scenario at a tiny size, one round: proves the suite works.
    #[arg(long)]
    quick: bool,
    /// Rounds (each server once per scenario per round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds each measurement runs for.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Servers, comma-separated: gyre, tokio-tls, twisted.
    #[arg(long, value_delimiter = ',', default_value = "gyre,tokio-tls,twisted")]
    servers: Vec<String>,
    /// Scenarios, comma-separated: bulk, pingpong-50, handshakes.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bulk,pingpong-50,handshakes"
    )]
    scenarios: Vec<String>,
}

const START_LIMIT: Duration = Duration::from_secs(20);

struct Files {
    _dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Makes a CA and a leaf for localhost with openssl.
fn make_certificates() -> Result<Files, String> {
    let dir = std::env::temp_dir().join(format!("gyre-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let p = |name: &str| dir.join(name);
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("openssl is needed for bench-tls: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-days",
        "1",
        "-subj",
        "/CN=gyre-bench-CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&ca)?;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    run(&csr)?;
    std::fs::write(
        p("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "ext",
        "-out",
        "server.pem",
    ])?;
    Ok(Files {
        ca: p("ca.pem"),
        cert: p("server.pem"),
        key: p("server.key"),
        _dir: dir,
    })
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(kind: &str, files: &Files) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = exe.parent().ok_or("no bin dir")?.to_path_buf();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("GYRE_TWISTED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../.venv/bin/python"));
    let (mut command, on_stderr) = match kind {
        "gyre" => {
            let mut c = Command::new(bin_dir.join("gyre"));
            c.args([
                "--log-level",
                "info",
                "echo",
                "--listen",
                &format!(
                    "ssl:0:privateKey={}:certKey={}:interface=127.0.0.1",
                    files.key.display(),
                    files.cert.display()
                ),
            ]);
            (c, true)
        }
        "tokio-tls" => {
            let mut c = Command::new(bin_dir.join("bench-server"));
            c.arg("tokio-tls")
                .arg("--cert")
                .arg(&files.cert)
                .arg("--key")
                .arg(&files.key);
            (c, false)
        }
        "twisted" => {
            let mut c = Command::new(python);
            c.arg(manifest.join("twisted_tls_echo.py"))
                .arg(&files.cert)
                .arg(&files.key);
            (c, false)
        }
        other => return Err(format!("unknown server {other:?}")),
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {kind}: {e}"))?;
    let stream: Box<dyn std::io::Read + Send> = if on_stderr {
        Box::new(child.stderr.take().expect("piped"))
    } else {
        Box::new(child.stdout.take().expect("piped"))
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if !sent {
                let port = line
                    .strip_prefix("LISTENING ")
                    .map(str::to_owned)
                    .or_else(|| line.rsplit_once(" starting on ").map(|(_, p)| p.to_owned()));
                if let Some(port) = port.and_then(|p| p.trim().parse::<u16>().ok()) {
                    let _ = tx.send(port);
                    sent = true;
                }
            }
        }
    });
    match rx.recv_timeout(START_LIMIT) {
        Ok(port) => Ok(Server { child, port }),
        Err(_) => {
            let _ = child.kill();
            Err(format!("{kind} did not say where it listens"))
        }
    }
}

fn connector(ca: &Path) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    #[allow(deprecated)] // ring, as gyre
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every handshake a full one.
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Stream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn open(port: u16, tls: &tokio_rustls::TlsConnector) -> std::io::Result<Stream> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    tls.connect(name, tcp).await
}

/// Byte `i` of the stream.
fn byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Operations done (MiB for bulk) and whether every byte checked out.
struct Outcome {
    ops: f64,
    clean: bool,
}

async fn bulk(port: u16, tls: tokio_rustls::TlsConnector, run_for: Duration) -> Outcome {
    let Ok(stream) = open(port, &tls).await else {
        return Outcome {
            ops: 0.0,
            clean: false,
        };
    };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let deadline = Instant::now() + run_for;
    // What the writer has sent, and whether it is done: the reader stops
    // once every byte came back (no half-close: Twisted's TLS would close
    // the whole connection on close_notify, dropping echoes in flight).
    let sent = Rc::new(Cell::new(0u64));
    let done = Rc::new(Cell::new(false));
    let (s, d) = (sent.clone(), done.clone());
    let writer = tokio::task::spawn_local(async move {
        let mut chunk = vec![0u8; 1 << 20];
        while Instant::now() < deadline {
            let from = s.get();
            for (k, b) in chunk.iter_mut().enumerate() {
                *b = byte(from + k as u64);
            }
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            s.set(from + chunk.len() as u64);
        }
        // tokio-rustls may still hold records the socket did not take:
        // unflushed, they never reach the server, and the reader would
        // wait for their echo for ever.
        let _ = wr.flush().await;
        d.set(true);
        wr
    });
    let mut got = 0u64;
    let mut clean = true;
    let mut buf = vec![0u8; 64 * 1024];
    while !(done.get() && got >= sent.get()) {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => {
                clean = false;
                break;
            }
            Ok(n) => {
                if clean
                    && buf[..n]
                        .iter()
                        .enumerate()
                        .any(|(k, b)| *b != byte(got + k as u64))
                {
                    clean = false;
                }
                got += n as u64;
            }
        }
    }
    if let Ok(wr) = writer.await {
        let mut stream = rd.unsplit(wr);
        let _ = stream.shutdown().await;
    }
    Outcome {
        ops: got as f64 / (1u64 << 20) as f64,
        clean: clean && got == sent.get() && got > 0,
    }
}

async fn pingpong(port: u16, tls: tokio_rustls::TlsConnector, run_for: Duration) -> Outcome {
    let deadline = Instant::now() + run_for;
    let mut tasks = Vec::new();
    for c in 0..50u64 {
        let tls = tls.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let Ok(mut s) = open(port, &tls).await else {
                return (0u64, false);
            };
            let mut n = 0u64;
            let mut back = [0u8; 64];
            while Instant::now() < deadline {
                let msg: Vec<u8> = (0..64).map(|k| byte(c * 7 + n + k)).collect();
                if s.write_all(&msg).await.is_err()
                    || s.flush().await.is_err()
                    || s.read_exact(&mut back).await.is_err()
                {
                    return (n, false);
                }
                if back[..] != msg[..] {
                    return (n, false);
                }
                n += 1;
            }
            let _ = s.shutdown().await;
            (n, true)
        }));
    }
    let mut ops = 0;
    let mut clean = true;
    for t in tasks {
        let (n, ok) = t.await.unwrap_or((0, false));
        ops += n;
        clean &= ok;
    }
    Outcome {
        ops: ops as f64,
        clean,
    }
}

async fn handshakes(port: u16, tls: tokio_rustls::TlsConnector, run_for: Duration) -> Outcome {
    let deadline = Instant::now() + run_for;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let tls = tls.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut n = 0u64;
            let msg = [7u8; 64];
            let mut back = [0u8; 64];
            while Instant::now() < deadline {
                let Ok(mut s) = open(port, &tls).await else {
                    return (n, false);
                };
                if s.write_all(&msg).await.is_err()
                    || s.flush().await.is_err()
                    || s.read_exact(&mut back).await.is_err()
                {
                    return (n, false);
                }
                if back != msg {
                    return (n, false);
                }
                let _ = s.shutdown().await;
                n += 1;
            }
            (n, true)
        }));
    }
    let mut ops = 0;
    let mut clean = true;
    for t in tasks {
        let (n, ok) = t.await.unwrap_or((0, false));
        ops += n;
        clean &= ok;
    }
    Outcome {
        ops: ops as f64,
        clean,
    }
}

/// One measurement: (ops per second, server CPU seconds per op).
fn measure(
    kind: &str,
    scenario: &str,
    files: &Files,
    run_for: Duration,
) -> Result<(f64, f64), String> {
    let server = start_server(kind, files)?;
    let pid = server.child.id();
    let tls = connector(&files.ca);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let cpu_before = procfs::cpu_seconds(pid).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let port = server.port;
    // Bounded: a load that stalls fails the run instead of hanging it.
    let limit = run_for + Duration::from_secs(30);
    let outcome = local.block_on(&runtime, async move {
        let load = async move {
            match scenario {
                "bulk" => bulk(port, tls, run_for).await,
                "pingpong-50" => pingpong(port, tls, run_for).await,
                _ => handshakes(port, tls, run_for).await,
            }
        };
        tokio::time::timeout(limit, load).await
    });
    let Ok(outcome) = outcome else {
        return Err(format!("{kind} {scenario}: no progress for {limit:?}"));
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(pid).map_err(|e| e.to_string())? - cpu_before;
    if !outcome.clean || outcome.ops == 0.0 {
        return Err(format!("{kind} {scenario}: echoed bytes wrong or missing"));
    }
    Ok((outcome.ops / elapsed, cpu / outcome.ops))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (rounds, run_for) = if args.quick {
        (1, Duration::from_millis(300))
    } else {
        (args.rounds.max(1), Duration::from_secs_f64(args.duration))
    };
    let files = match make_certificates() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench-tls: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    println!(
        "TLS echo: {rounds} round(s) of {:.1} s; medians; server CPU per operation",
        run_for.as_secs_f64()
    );
    for scenario in &args.scenarios {
        let (unit, per) = match scenario.as_str() {
            "bulk" => ("MiB/s", "µs/MiB"),
            "pingpong-50" => ("msg/s", "µs/msg"),
            "handshakes" => ("hs/s", "µs/hs"),
            other => {
                eprintln!("bench-tls: unknown scenario {other:?}");
                return ExitCode::FAILURE;
            }
        };
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); args.servers.len()];
        let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); args.servers.len()];
        for _ in 0..rounds {
            for (i, kind) in args.servers.iter().enumerate() {
                match measure(kind, scenario, &files, run_for) {
                    Ok((rate, cpu)) => {
                        rates[i].push(rate);
                        cpus[i].push(cpu);
                    }
                    Err(e) => {
                        eprintln!("bench-tls: {e}");
                        failed = true;
                    }
                }
            }
        }
        println!("\n{scenario}");
        let mut cpu_of = std::collections::BTreeMap::new();
        for (i, kind) in args.servers.iter().enumerate() {
            if rates[i].is_empty() {
                println!("  {kind:<10} failed");
                continue;
            }
            let (rate, cpu) = (median(rates[i].clone()), median(cpus[i].clone()));
            cpu_of.insert(kind.clone(), cpu);
            println!(
                "  {kind:<10} {rate:>12.1} {unit:<6} server CPU {:>10.1} {per}",
                cpu * 1e6
            );
        }
        if let (Some(g), Some(t)) = (cpu_of.get("gyre"), cpu_of.get("tokio-tls")) {
            println!(
                "  gyre / tokio-rustls server CPU per op: {:.2} (target <= 1)",
                g / t
            );
        }
        if let (Some(g), Some(t)) = (cpu_of.get("gyre"), cpu_of.get("twisted")) {
            println!(
                "  twisted / gyre server CPU per op: {:.2} (target >= 5)",
                t / g
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
