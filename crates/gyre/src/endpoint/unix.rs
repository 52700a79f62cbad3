//! [`UnixServerEndpoint`] and [`UnixClientEndpoint`]: listen on and
//! connect to a UNIX stream socket (Twisted's `UNIXServerEndpoint` and
//! `UNIXClientEndpoint`). The client is the connection race of `client.rs`
//! with one attempt, a UNIX connect.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::{DialFn, Race};
use super::spec::{UnixClientSpec, UnixServerSpec};
use super::{ClientEndpoint, ServerEndpoint};
use crate::address::shown_path;
use crate::deferred::{Deferred, fail, succeed};
use crate::factory::AnyFactory;
use crate::port::ListeningPort;
use crate::reactor::Reactor;
use crate::transport::Transport;
use crate::unix::{UnixConnectOptions, UnixListenOptions};

/// A UNIX stream server endpoint: a path (or abstract name, see
/// [`crate::unix::abstract_name`]), a mode (default 0o666), a backlog
/// (default 1024) and the PID lock (off; on for the string form unless it
/// says `lockfile=0`, as in Twisted).
///
/// Its string form is `unix:<path>[:mode=<octal>][:backlog=<n>][:lockfile=0|1]`.
#[derive(Clone)]
pub struct UnixServerEndpoint {
    reactor: Reactor,
    path: PathBuf,
    options: UnixListenOptions,
}

impl UnixServerEndpoint {
    /// Listens at `path` with [`UnixListenOptions::default`].
    pub fn new(reactor: &Reactor, path: impl AsRef<Path>) -> Self {
        UnixServerEndpoint {
            reactor: reactor.clone(),
            path: path.as_ref().to_path_buf(),
            options: UnixListenOptions::default(),
        }
    }

    /// The endpoint a parsed description names.
    pub fn from_spec(reactor: &Reactor, spec: &UnixServerSpec) -> Self {
        UnixServerEndpoint::new(reactor, &spec.path).with_options(UnixListenOptions {
            backlog: spec.backlog,
            mode: spec.mode,
            want_pid: spec.want_pid,
        })
    }

    /// Sets backlog, mode and PID lock.
    pub fn with_options(mut self, options: UnixListenOptions) -> Self {
        self.options = options;
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Backlog, mode and PID lock.
    pub fn options(&self) -> &UnixListenOptions {
        &self.options
    }
}

impl ServerEndpoint for UnixServerEndpoint {
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort> {
        match self
            .reactor
            .listen_unix_with(&self.path, factory, self.options.clone())
        {
            Ok(port) => succeed(port),
            Err(e) => fail(e),
        }
    }
}

/// The description form, which parses back to this endpoint:
/// `unix:/run/echo.sock:lockfile=0` for an endpoint without the PID lock.
impl fmt::Display for UnixServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        UnixServerSpec {
            path: self.path.clone(),
            mode: self.options.mode,
            backlog: self.options.backlog,
            want_pid: self.options.want_pid,
        }
        .fmt(f)
    }
}

impl fmt::Debug for UnixServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixServerEndpoint({self})")
    }
}

/// A UNIX stream client endpoint: a path, a timeout (default 30 s) and
/// `check_pid` (off).
///
/// Its string form is `unix:path=<path>[:timeout=<s>][:lockfile=0|1]`.
#[derive(Clone)]
pub struct UnixClientEndpoint {
    reactor: Reactor,
    path: PathBuf,
    options: UnixConnectOptions,
}

impl UnixClientEndpoint {
    /// Connects to `path` with [`UnixConnectOptions::default`].
    pub fn new(reactor: &Reactor, path: impl AsRef<Path>) -> Self {
        UnixClientEndpoint {
            reactor: reactor.clone(),
            path: path.as_ref().to_path_buf(),
            options: UnixConnectOptions::default(),
        }
    }

    /// The endpoint a parsed description names.
    pub fn from_spec(reactor: &Reactor, spec: &UnixClientSpec) -> Self {
        UnixClientEndpoint::new(reactor, &spec.path)
            .with_timeout(spec.timeout)
            .with_check_pid(spec.check_pid)
    }

    /// Gives up after `timeout` (`None`: never).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Connects only while a live process holds the server's PID lock.
    pub fn with_check_pid(mut self, check_pid: bool) -> Self {
        self.options.check_pid = check_pid;
        self
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Timeout and `check_pid`.
    pub fn options(&self) -> &UnixConnectOptions {
        &self.options
    }
}

impl ClientEndpoint for UnixClientEndpoint {
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
        let path = self.path.clone();
        let options = self.options.clone();
        let dial: DialFn<Reactor> = Box::new(move |reactor, _target, attempt| {
            reactor.connect_unix_with(&path, attempt, options.clone())
        });
        let race = Race::new(
            &self.reactor,
            factory,
            dial,
            Duration::ZERO,
            shown_path(&self.path),
        );
        race.run([shown_path(&self.path)]);
        race.deferred.clone()
    }
}

/// The description form: `unix:path=/run/echo.sock`.
impl fmt::Display for UnixClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        UnixClientSpec {
            path: self.path.clone(),
            timeout: self.options.timeout,
            check_pid: self.options.check_pid,
        }
        .fmt(f)
    }
}

impl fmt::Debug for UnixClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixClientEndpoint({self})")
    }
}
