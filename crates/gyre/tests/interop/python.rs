//! The test venv's Python, for tests that compare gyre with Twisted or
//! with the C library as Python sees it.
//!
//! The interpreter is `$GYRE_TWISTED_PYTHON`, else `<repo>/.venv/bin/python`
//! (what `scripts/setup-twisted-venv` builds); without one that imports
//! Twisted, the tests using it fail with a message saying how to build it,
//! never skip. Every run is bounded: past its limit the child is killed and
//! the test fails.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

/// The venv's Python, checked once per test binary; panics if there is none.
pub(crate) fn twisted_python() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo = manifest
            .parent()
            .and_then(Path::parent)
            .expect("crates/gyre is two levels down");
        python_or_fail(
            std::env::var_os("GYRE_TWISTED_PYTHON").map(PathBuf::from),
            &repo.join(".venv/bin/python"),
        )
    })
}

/// The first of `from_env` and `fallback` that imports Twisted; panics,
/// saying what was tried, when neither does.
pub(crate) fn python_or_fail(from_env: Option<PathBuf>, fallback: &Path) -> PathBuf {
    let mut tried = Vec::new();
    for candidate in from_env.into_iter().chain([fallback.to_path_buf()]) {
        let outcome = Command::new(&candidate)
            .args(["-c", "import twisted.internet.task"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match outcome {
            Ok(status) if status.success() => return candidate,
            Ok(status) => tried.push(format!(
                "{} cannot import twisted: {status}",
                candidate.display()
            )),
            Err(e) => tried.push(format!("{}: {e}", candidate.display())),
        }
    }
    panic!(
        "Twisted venv missing: run scripts/setup-twisted-venv ({})",
        tried.join("; ")
    );
}

/// Runs `command` with `input` on its standard input and returns what it
/// printed on standard output; panics if it fails or is still running
/// after `limit` (then it is killed).
pub(crate) fn output_within(mut command: Command, input: &[u8], limit: Duration) -> String {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send((out, err));
    });
    let Ok((out, err)) = rx.recv_timeout(limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{shown} still running after {limit:?}");
    };
    let _ = writer.join();
    let status = child.wait().expect("reap the child");
    assert!(status.success(), "{shown}: {status}\n{err}");
    out
}
