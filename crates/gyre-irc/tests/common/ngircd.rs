//! A real IRC server for tests and benchmarks: `ngircd` on 127.0.0.1, a
//! free port, a configuration written to a temporary directory, killed
//! when dropped. Used by `tests/ngircd.rs` and by gyre-bench's
//! `irc-flood` (which includes this file by path).
//!
//! Penalties are off (`MaxPenaltyTime = 0`): ngircd would otherwise slow a
//! client that sends many lines at once, which the flood benchmark does on
//! purpose.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) fn ngircd_binary() -> PathBuf {
    for p in ["/usr/sbin/ngircd", "/usr/bin/ngircd"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("ngircd is missing: apt-get install ngircd (scripts/test-all installs it)");
}

pub(crate) struct Ngircd {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    /// The TLS port, when started with a certificate.
    pub(crate) tls_port: Option<u16>,
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Ngircd {
    /// Plain IRC on a free port.
    pub(crate) fn start() -> Ngircd {
        Ngircd::start_with(None)
    }

    /// Plain IRC, and IRC over TLS with `cert` and `key` (PEM files) on a
    /// second port.
    pub(crate) fn start_tls(cert: &Path, key: &Path) -> Ngircd {
        Ngircd::start_with(Some((cert.to_path_buf(), key.to_path_buf())))
    }

    fn start_with(tls: Option<(PathBuf, PathBuf)>) -> Ngircd {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gyre-ngircd-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // ngircd drops root for `nobody`: let it write its pid file.
        let _ = Command::new("chmod").arg("777").arg(&dir).status();
        let mut server = Ngircd {
            dir,
            port: free_port(),
            tls_port: tls.as_ref().map(|_| free_port()),
            tls,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("ngircd.conf");
        let ssl = match (&self.tls, self.tls_port) {
            (Some((cert, key)), Some(port)) => format!(
                "[SSL]\nCertFile = {}\nKeyFile = {}\nPorts = {port}\n",
                cert.display(),
                key.display()
            ),
            _ => String::new(),
        };
        std::fs::write(
            &conf,
            format!(
                "[Global]\nName = irc.gyre.test\nInfo = gyre test server\nListen = 127.0.0.1\nPorts = {}\n\
                 PidFile = {}/ngircd.pid\nMotdPhrase = gyre test\nAdminInfo1 = gyre\nAdminInfo2 = test\nAdminEMail = t@example.invalid\n\
                 [Limits]\nMaxNickLength = 30\nPingTimeout = 120\nMaxPenaltyTime = 0\n[Options]\nPAM = no\nIdent = no\nDNS = no\n{ssl}",
                self.port,
                self.dir.display()
            ),
        )
        .expect("config");
        let mut child = Command::new(ngircd_binary())
            .args(["-n", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ngircd starts");
        let (tx, rx) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains("ready.") => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("ngircd did not become ready: {seen:#?}");
                }
            }
        }
        self.child = Some(child);
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
