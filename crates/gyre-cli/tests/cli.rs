//! The `gyre` binary's argument handling, end to end: exit codes and the
//! text of help, version and usage errors. No sockets are opened here; the
//! services' network behaviour is tested elsewhere.

use std::process::{Command, Output, Stdio};

/// Runs the built `gyre` with `args`, no input, capturing its output.
#[track_caller]
fn gyre(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gyre"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn gyre")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--help`, `--version` and a bad endpoint exit 0, 0 and 64, with the expected text.
#[test]
fn help_version_and_bad_endpoint() {
    let help = gyre(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let out = text(&help.stdout);
    assert!(out.contains("Usage: gyre [OPTIONS] <COMMAND>"), "{out}");
    for service in [
        "echo",
        "discard",
        "chargen",
        "daytime",
        "qotd",
        "time",
        "chat",
        "portforward",
        "connect",
    ] {
        assert!(out.contains(service), "{service} missing from help:\n{out}");
    }

    let version = gyre(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        text(&version.stdout),
        format!("gyre {}\n", env!("CARGO_PKG_VERSION"))
    );

    let bad = gyre(&["echo", "--listen", "tcp:80x"]);
    assert_eq!(bad.status.code(), Some(64));
    assert_eq!(
        text(&bad.stderr),
        "gyre: --listen: invalid endpoint description \"tcp:80x\": port '80x' is not an integer\n"
    );
    assert!(bad.stdout.is_empty());
}

/// Clap usage errors (no service, unknown service, unknown option) exit 64 too.
#[test]
fn usage_errors_exit_64() {
    for args in [
        &[][..],
        &["nosuch"],
        &["echo", "--nosuch"],
        &["--log-level", "loud", "echo"],
    ] {
        let out = gyre(args);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"), "{args:?}");
    }
}

/// Help into a closed pipe is not a crash.
#[test]
fn help_into_closed_pipe() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gyre"))
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gyre");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for gyre");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}
