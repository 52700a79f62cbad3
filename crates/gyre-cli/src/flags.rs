//! Command-line arguments: clap definitions, and their resolution into a
//! [`Config`].
//!
//! [`parse`] is the only entry point. It never exits the process: it returns
//! either a `Config` or a [`Stop`] that knows what to print and which exit
//! status to use (0 for `--help`/`--version`, 64 for every usage error,
//! endpoint descriptions included). Endpoint descriptions are parsed here,
//! by the library's grammar (`gyre::endpoint::server_from_string` and
//! `client_from_string`), so a bad one is reported before anything runs.
//! Tests for the whole mapping are at the bottom of this file.

use std::ffi::OsString;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand, ValueEnum};
use gyre::Reactor;
use gyre::endpoint::spec::{parse_tcp_server, parse_udp_server};
use gyre::endpoint::{EndpointError, client_from_string, server_from_string};
use gyre::haproxy::Version;
use log::LevelFilter;

use crate::config::{Command, Config, Limits, Listen};
use crate::exit::{self, Failure};
use crate::forward;
use crate::keepalive;
use crate::services::Service;

/// Shown after the options in `gyre --help`.
const AFTER_HELP: &str = r"Endpoints are descriptions in Twisted's syntax: a type, then parameters
separated by ':', each positional or NAME=VALUE.
  listen:  tcp:PORT[:interface=IP][:backlog=N]    every IPv4 address by default
           tcp6:PORT[:backlog=N][:interface=IP]   every IPv6 address by default
           unix:PATH[:mode=OCTAL][:backlog=N][:lockfile=0|1]
                            a UNIX socket file (mode 666 by default; as in
                            Twisted, the PID lock PATH.lock is taken unless
                            lockfile=0); unix:@NAME is a Linux abstract name
           udp:PORT[:interface=IP]   a UDP port (gyre's, not Twisted's):
                            echo, discard, daytime, qotd and time answer
                            each datagram as their RFCs say
           haproxy:LISTEN   behind a load balancer: each connection starts
                            with a PROXY protocol header (v1 or v2) naming
                            the client, whom the service then sees and logs
                            as its peer; one without a header is dropped
           ssl:PORT:privateKey=KEY.pem[:certKey=CERT.pem][:extraCertChain=PEM]
               [:caCertsDir=DIR][:interface=IP][:backlog=N]   TLS; certKey
                            defaults to privateKey; caCertsDir requires
                            client certificates signed by its CAs
  connect: tcp:HOST:PORT[:timeout=SECONDS][:bindAddress=IP]
           or tcp:host=HOST:port=PORT[...]; tcp6:... connects over IPv6 only
           unix:PATH[:timeout=SECONDS][:lockfile=0|1] or unix:path=PATH[...]
                            lockfile=1 (or checkPID=1): only while the
                            server's PID lock is held
           tls:host=HOST:port=PORT[:trustRoots=PEM-FILE-OR-DIR]
               [:certificate=PEM][:privateKey=PEM][:timeout=S][:bindAddress=IP]
                            TLS, the certificate checked for HOST against
                            the system's roots unless trustRoots is given
A backslash makes the next character literal: write ':' inside a value as
'\:' and a backslash as '\\' (tcp6:8000:interface=\:\:1, tcp:\:\:1:8000).
Port 0 listens on a free port. The backlog (the queue of connections not
yet accepted) is 1024 unless given, not Twisted's 50, so bursts of connects
are not dropped; Linux caps it at net.core.somaxconn. The connect timeout is
30 seconds unless given; timeout=0 leaves it to the system.

Services listen on tcp:8000 by default; chat on tcp:8123 and portforward on
tcp:6666. Every service also takes --idle-timeout SECONDS (close a
connection after that long with nothing received or sent),
--max-connections N (serve at most N connections at once; a client past
that is disconnected as soon as it connects; unlimited unless given, but
256 for portforward) and --threads N (N reactors on
N threads over the same ports, with SO_REUSEPORT; the limits then count per
thread; chat runs on one thread only). --keepalive SECONDS turns on TCP
keep-alive: a client silent for SECONDS is probed every SECONDS, and one
that answers none of 3 probes (gone without closing) is disconnected.

Exit status: 0 after SIGINT/SIGTERM, --help or --version, or when a connect
session ends; 64 bad arguments; 69 a port could not be opened, or the
connection could not be made; 74 standard input, standard output or the
connection failed during a connect session; 77 permission denied; 70 internal
error; 71 the system refused to start the reactor.";

/// gyre: classic network services on the gyre reactor, a chat room, a port
/// forwarder, and a netcat.
///
/// Runs one service on one or more TCP ports until interrupted (SIGINT or
/// SIGTERM), or connects standard input and output to a remote endpoint;
/// logs to standard error.
#[derive(Debug, Parser)]
#[command(name = "gyre", version, after_help = AFTER_HELP)]
#[command(subcommand_required = true, arg_required_else_help = true)]
struct Args {
    /// Most verbose log level to print [default: info; connect: warn, so
    /// that its standard error stays quiet unless something goes wrong]
    #[arg(long, value_enum, value_name = "LEVEL", global = true)]
    log_level: Option<LogLevel>,

    /// Log a line naming any callback that holds the reactor longer than
    /// MS milliseconds (default 100; 0 turns the check off)
    #[arg(long, value_name = "MS", global = true)]
    blocked_threshold: Option<u64>,

    #[command(subcommand)]
    command: CommandArgs,
}

/// The subcommands: one per service, and `connect`.
#[derive(Debug, Subcommand)]
enum CommandArgs {
    /// Echo back every byte received (RFC 862)
    Echo(ListenArgs),
    /// Read and discard everything (RFC 863)
    Discard(ListenArgs),
    /// Stream a rotating character pattern until the client goes (RFC 864)
    Chargen(ListenArgs),
    /// Send the UTC date and time as text, then close (RFC 867)
    Daytime(ListenArgs),
    /// Send a quote, then close (RFC 865)
    Qotd(ListenArgs),
    /// Send seconds since 1900 as 32 bits, then close (RFC 868)
    Time(ListenArgs),
    /// A line-based chat room (the Twisted tutorial's chat server)
    ///
    /// Each client is asked "What's your name?"; the first line that is a
    /// valid name not in use becomes its name ("Welcome, NAME!"), a name in
    /// use is answered "Name taken, please choose another." and the next
    /// line is the next try. After that every line is sent to every other
    /// named client as "<NAME> LINE". Lines end in LF or CRLF (telnet and
    /// nc both work), are at most 16384 bytes without the ending (a longer
    /// one closes the connection) and are sent with CRLF; a name is free
    /// again once its client leaves.
    ///
    /// Unlike the tutorial: names are printable UTF-8 text (not only
    /// spaces, no control or bidirectional-control characters; others get
    /// "Names are printable text without control characters, please choose
    /// another."); in relayed lines every control byte but tab, and every
    /// byte that is not UTF-8, is sent as \xNN (ESC as \x1b), so no one
    /// can send terminal escapes to the others; a client with more than
    /// 2 MiB waiting to be sent to it is disconnected as a slow consumer.
    #[command(mut_arg("listen", |a| a.default_value("tcp:8123")))]
    Chat(ListenArgs),
    /// Forward every connection to another endpoint, both ways
    ///
    /// Each accepted connection gets its own connection to --connect; bytes
    /// are relayed unchanged in both directions, reading from one side only
    /// as fast as the other side takes the data. When one peer shuts down
    /// its sending side the forwarder does the same towards the other; when
    /// either connection closes, the other is closed after what is buffered
    /// for it has been sent. If --connect cannot be reached the client's
    /// connection is closed and the reason logged.
    ///
    /// --max-connections is 256 unless given (per thread): each forwarded
    /// connection holds two descriptors, so that stays well inside the usual
    /// limit of 1024 open files; raise both together. A --connect that
    /// reaches one of the forwarder's own --listen endpoints (same port, an
    /// address that listener takes) is refused at start, exit 64: it would
    /// forward every connection to itself until no descriptor is left.
    #[command(mut_arg("listen", |a| a.default_value("tcp:6666")))]
    Portforward(PortforwardArgs),
    /// Connect standard input and output to ENDPOINT, like netcat
    ///
    /// Standard input is sent to the connection and what arrives is written
    /// to standard output, unchanged. When standard input ends, the sending
    /// side is shut down (a half-close) and output continues until the other
    /// side closes; when the other side closes first, the connection is
    /// closed. Either way the command then exits. Logs go to standard error,
    /// at warn unless --log-level says otherwise: a failure prints one line,
    /// "gyre: cannot connect to ENDPOINT: REASON", and nothing else
    /// (--log-level info shows the connection's life and the retries of
    /// --reconnect).
    Connect(ConnectArgs),
    /// Run PROGRAM for each connection, wired to it (inetd-style)
    ///
    /// Each accepted connection starts `PROGRAM ARGS...` (after `--`):
    /// what the client sends is the program's standard input, what the
    /// program writes on its standard output goes to the client, and each
    /// line it writes on its standard error is logged, prefixed with the
    /// connection. Both directions are flow-controlled (a side that does
    /// not read holds the other back). The client's end of input closes
    /// the program's standard input; the program's exit closes the
    /// connection once its output is sent. A client that leaves first has
    /// its program sent SIGTERM, then SIGKILL after --grace seconds. A
    /// program that cannot be started is logged in one line and the
    /// connection closed. Runs on one thread.
    Exec(ExecArgs),
    /// The IRC log bot of the Twisted examples (ircLogBot.py)
    ///
    /// Connects to the IRC server at --server (any client endpoint, e.g.
    /// tcp:irc.example.org:6667), registers as --nick (a nick in use gets
    /// "^" appended), joins --channel and appends what is said there to
    /// --file as "[HH:MM:SS] <nick> text" lines in local time, one flushed
    /// line each, between "[connected at ...]" and "[disconnected at ...]".
    /// Answers "NICK: I am a log bot" when addressed as "BOTNICK: ..." and
    /// scolds private messages. When a connection that was welcomed ends it
    /// reconnects at once; failed attempts (or connections dropped before
    /// the welcome) back off 1, 2, 4 ... 60 s. If the very first attempt
    /// fails it prints "gyre: connection failed: REASON" and exits 69.
    Logbot(LogbotArgs),
}

/// `exec`'s options.
#[derive(Debug, clap::Args)]
struct ExecArgs {
    #[command(flatten)]
    listen: ListenArgs,

    /// Seconds between SIGTERM and SIGKILL for the program of a client
    /// that left (a decimal; default 5)
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    grace: Option<String>,

    /// The program and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// `logbot`'s options.
#[derive(Debug, clap::Args)]
struct LogbotArgs {
    /// The IRC server (e.g. tcp:127.0.0.1:6667)
    #[arg(long, value_name = "ENDPOINT")]
    server: String,

    /// The channel to log ("#" is added when missing)
    #[arg(long, value_name = "NAME")]
    channel: String,

    /// The log file, appended to
    #[arg(long, value_name = "PATH")]
    file: std::path::PathBuf,

    /// The bot's nick
    #[arg(long, value_name = "NICK", default_value = "twistedbot")]
    nick: String,
}

/// Options every service takes.
#[derive(Debug, clap::Args)]
struct ListenArgs {
    /// Where to listen; repeat to listen on several endpoints
    /// (e.g. tcp:8000, tcp:8000:interface=127.0.0.1, tcp6:8000:interface=\:\:1)
    #[arg(long = "listen", value_name = "ENDPOINT", default_value = "tcp:8000")]
    listen: Vec<String>,

    /// Close a connection after SECONDS (a decimal, e.g. 0.5 or 300) in
    /// which nothing was received from or sent to its client
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    idle_timeout: Option<String>,

    /// Serve at most N connections at once; a client beyond that is
    /// disconnected as soon as it connects
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_connections: Option<String>,

    /// Run N reactors on N threads (default 1), each with its own factory
    /// and its own socket on every --listen port (SO_REUSEPORT); the
    /// kernel spreads connections across them. --max-connections and
    /// --idle-timeout then apply to each thread separately
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    threads: Option<String>,

    /// Turn on TCP keep-alive: probe a client after SECONDS (a whole
    /// number, 1 to 32767) without traffic and every SECONDS after that;
    /// one that answers none of 3 probes is disconnected
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    keepalive: Option<String>,
}

/// `portforward`'s options.
#[derive(Debug, clap::Args)]
struct PortforwardArgs {
    #[command(flatten)]
    listen: ListenArgs,

    /// Where to forward each connection (e.g. tcp:localhost:6665,
    /// tcp:host=10.0.0.2:port=80:timeout=5)
    #[arg(long, value_name = "ENDPOINT", required = true)]
    connect: String,

    /// Start each forwarded connection with a PROXY protocol header (v1:
    /// text, v2: binary) naming the client and the address it connected
    /// to, as HAProxy's send-proxy does (behind a haproxy: listener, the
    /// client its header named)
    #[arg(long, value_enum, value_name = "VERSION")]
    send_proxy: Option<ProxyVersion>,
}

/// `--send-proxy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProxyVersion {
    V1,
    V2,
}

impl From<ProxyVersion> for Version {
    fn from(version: ProxyVersion) -> Version {
        match version {
            ProxyVersion::V1 => Version::V1,
            ProxyVersion::V2 => Version::V2,
        }
    }
}

/// `connect`'s options.
#[derive(Debug, clap::Args)]
struct ConnectArgs {
    /// Reconnect, backing off, whenever the connection fails or ends; stop
    /// at the end of standard input
    #[arg(long)]
    reconnect: bool,

    /// Where to connect (e.g. tcp:127.0.0.1:8000, tcp:host=localhost:port=8000)
    #[arg(value_name = "ENDPOINT")]
    endpoint: String,
}

/// `--log-level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> LevelFilter {
        match level {
            LogLevel::Error => LevelFilter::Error,
            LogLevel::Warn => LevelFilter::Warn,
            LogLevel::Info => LevelFilter::Info,
            LogLevel::Debug => LevelFilter::Debug,
            LogLevel::Trace => LevelFilter::Trace,
        }
    }
}

/// Why the arguments did not lead to a run.
#[derive(Debug)]
pub(crate) enum Stop {
    /// clap's help, version or usage error, printed as clap formats it.
    Clap(clap::Error),
    /// A bad endpoint description (64), or no reactor to build endpoints
    /// for (71): one line.
    Failure(Failure),
}

impl Stop {
    /// The exit status: 0 for help and version, 64 (`EX_USAGE`) for usage
    /// errors, the failure's own code otherwise.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Stop::Clap(e)
                if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) =>
            {
                0
            }
            Stop::Clap(_) => exit::USAGE,
            Stop::Failure(failure) => failure.code,
        }
    }

    /// Prints the help, version or error (ignoring a closed stream) and
    /// returns the exit status.
    pub(crate) fn report(&self) -> ExitCode {
        match self {
            Stop::Clap(e) => {
                let _ = e.print();
                ExitCode::from(self.code())
            }
            Stop::Failure(failure) => failure.report(),
        }
    }
}

/// Parses the command line (program name first) into a [`Config`].
pub(crate) fn parse<I, T>(args: I) -> Result<Config, Stop>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::try_parse_from(args).map_err(Stop::Clap)?;
    resolve(args).map_err(Stop::Failure)
}

/// Turns parsed arguments into a config: creates the reactor, picks the
/// command, builds its endpoints (for `portforward`, refusing a
/// `--connect` that reaches its own `--listen`, see `forward.rs`).
fn resolve(args: Args) -> Result<Config, Failure> {
    let reactor = Reactor::new().map_err(|e| Failure::reactor_setup(&e))?;
    // A netcat says nothing on stderr unless something goes wrong: a
    // failure is its one line (`gyre: cannot connect to ...`), not the
    // log of the attempt before it.
    let quiet = matches!(args.command, CommandArgs::Connect(_));
    let default_level = if quiet {
        LogLevel::Warn
    } else {
        LogLevel::Info
    };
    let log_level = args.log_level.unwrap_or(default_level).into();
    reactor.set_blocked_threshold(match args.blocked_threshold {
        None => reactor.blocked_threshold(),
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
    });
    let (service, listen) = match args.command {
        CommandArgs::Echo(l) => (Service::Echo, l),
        CommandArgs::Discard(l) => (Service::Discard, l),
        CommandArgs::Chargen(l) => (Service::Chargen, l),
        CommandArgs::Daytime(l) => (Service::Daytime, l),
        CommandArgs::Qotd(l) => (Service::Qotd, l),
        CommandArgs::Time(l) => (Service::Time, l),
        CommandArgs::Chat(l) => (Service::Chat, l),
        CommandArgs::Portforward(p) => {
            // The listening side first, so its mistakes are reported first.
            let mut listen = resolve_listen(&reactor, &p.listen)?;
            if let Some(spec) = listen.udp.first() {
                return Err(Failure::new(
                    exit::USAGE,
                    format!("--listen: portforward relays connections; '{spec}' is a UDP port"),
                ));
            }
            listen
                .limits
                .max_connections
                .get_or_insert(forward::DEFAULT_MAX_CONNECTIONS);
            let upstream = client_from_string(&reactor, &p.connect)
                .map_err(|e| bad_endpoint("--connect", &e))?;
            forward::refuse_own_ports(&listen.descriptions, &p.connect)?;
            return Ok(Config {
                command: Command::Forward {
                    upstream: Rc::from(upstream),
                    upstream_description: p.connect,
                    send_proxy: p.send_proxy.map(Version::from),
                    listen,
                },
                reactor,
                log_level,
            });
        }
        CommandArgs::Exec(e) => {
            let listen = resolve_listen(&reactor, &e.listen)?;
            if listen.threads > 1 {
                return Err(Failure::new(
                    exit::USAGE,
                    "--threads: exec runs on one thread only",
                ));
            }
            let grace = match e.grace.as_deref() {
                None => crate::services::exec::DEFAULT_GRACE,
                Some(text) => seconds(text).map_err(|f| {
                    Failure::new(f.code, f.message.replace("--idle-timeout", "--grace"))
                })?,
            };
            let mut command = e.command.into_iter();
            let program = command
                .next()
                .ok_or_else(|| Failure::new(exit::USAGE, "exec: no program given after --"))?;
            return Ok(Config {
                command: Command::Exec {
                    spec: crate::services::exec::ExecSpec {
                        program,
                        args: command.collect(),
                        grace,
                    },
                    listen,
                },
                reactor,
                log_level,
            });
        }
        CommandArgs::Logbot(b) => {
            let endpoint = client_from_string(&reactor, &b.server)
                .map_err(|e| bad_endpoint("--server", &e))?;
            return Ok(Config {
                command: Command::Logbot {
                    endpoint: Rc::from(endpoint),
                    options: gyre_irc::logbot::LogBotOptions {
                        nickname: b.nick,
                        channel: b.channel,
                        path: b.file,
                    },
                },
                reactor,
                log_level,
            });
        }
        CommandArgs::Connect(c) => {
            let endpoint = client_from_string(&reactor, &c.endpoint)
                .map_err(|e| bad_endpoint("connect", &e))?;
            return Ok(Config {
                command: Command::Connect {
                    endpoint: Rc::from(endpoint),
                    reconnect: c.reconnect,
                },
                reactor,
                log_level,
            });
        }
    };
    let listen = resolve_listen(&reactor, &listen)?;
    if let Some(spec) = listen.udp.first()
        && crate::services::udp::Udp::of(service).is_none()
    {
        return Err(Failure::new(
            exit::USAGE,
            format!("--listen: '{spec}': only echo, discard, daytime, qotd and time run over UDP"),
        ));
    }
    if service == Service::Chat && listen.threads > 1 {
        // Rooms would not span reactors: users on different threads would
        // never see each other.
        return Err(Failure::new(
            exit::USAGE,
            "--threads: chat keeps its one room on one reactor; it runs with --threads 1 only",
        ));
    }
    Ok(Config {
        command: Command::Serve { service, listen },
        reactor,
        log_level,
    })
}

/// The endpoints and limits shared by every service.
fn resolve_listen(reactor: &Reactor, args: &ListenArgs) -> Result<Listen, Failure> {
    let mut endpoints = Vec::new();
    let mut udp = Vec::new();
    for d in &args.listen {
        // `udp:` (gyre's) names a datagram port, not a stream endpoint.
        let is_udp =
            gyre::endpoint::parse::parse(d).is_ok_and(|p| p.kind().eq_ignore_ascii_case("udp"));
        if is_udp {
            udp.push(parse_udp_server(d).map_err(|e| bad_endpoint("--listen", &e))?);
        } else {
            endpoints
                .push(server_from_string(reactor, d).map_err(|e| bad_endpoint("--listen", &e))?);
        }
    }
    let idle_timeout = args.idle_timeout.as_deref().map(seconds).transpose()?;
    let max_connections = args
        .max_connections
        .as_deref()
        .map(connection_count)
        .transpose()?;
    let keepalive = args.keepalive.as_deref().map(keepalive).transpose()?;
    let threads = args.threads.as_deref().map(thread_count).transpose()?;
    let threads = threads.unwrap_or(1);
    if threads > 1 {
        // Each thread binds its own socket to the same TCP port.
        for d in &args.listen {
            parse_tcp_server(behind_haproxy(d).1).map_err(|_| {
                Failure::new(
                    exit::USAGE,
                    format!(
                        "--threads: '{d}' cannot be shared between threads (only tcp and tcp6 can, haproxy: or not)"
                    ),
                )
            })?;
        }
    }
    Ok(Listen {
        endpoints,
        udp,
        descriptions: args.listen.clone(),
        limits: Limits {
            idle_timeout,
            max_connections,
            keepalive,
        },
        threads,
    })
}

/// Whether a listen description is `haproxy:` around another, and that
/// other (the description itself when it is not).
pub(crate) fn behind_haproxy(description: &str) -> (bool, &str) {
    match description.split_at_checked(8) {
        Some((kind, rest)) if kind.eq_ignore_ascii_case("haproxy:") => (true, rest),
        _ => (false, description),
    }
}

/// The most reactor threads `--threads` accepts.
const MAX_THREADS: usize = 1024;

/// `--threads`: a whole number from 1 to [`MAX_THREADS`].
fn thread_count(text: &str) -> Result<usize, Failure> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(Failure::new(
            exit::USAGE,
            format!("--threads: '{text}' is not a whole number from 1 to {MAX_THREADS}"),
        )),
    }
}

/// `--idle-timeout`: a decimal number of seconds, more than zero (and
/// not so small that it rounds to no time at all).
fn seconds(text: &str) -> Result<Duration, Failure> {
    let bad = |why: &str| Failure::new(exit::USAGE, format!("--idle-timeout: '{text}' {why}"));
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| bad("is not a number of seconds"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(bad("is not a positive number of seconds"));
    }
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(bad("is too short to measure")),
        Err(_) => Err(bad("is too long")),
    }
}

/// `--keepalive`: whole seconds, as the kernel counts them, within the
/// range Linux takes.
fn keepalive(text: &str) -> Result<Duration, Failure> {
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=keepalive::MAX_SECONDS).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(Failure::new(
            exit::USAGE,
            format!(
                "--keepalive: '{text}' is not a whole number of seconds from 1 to {}",
                keepalive::MAX_SECONDS
            ),
        )),
    }
}

/// `--max-connections`: a whole number, at least one.
fn connection_count(text: &str) -> Result<usize, Failure> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Failure::new(
            exit::USAGE,
            format!("--max-connections: '{text}' is not a whole number of at least 1"),
        )),
    }
}

/// A bad description given to `what` (an option or a subcommand): the
/// library's one-line message, which quotes the description and names the
/// bad part, after the name of the argument. Exit 64.
fn bad_endpoint(what: &str, err: &EndpointError) -> Failure {
    Failure::new(exit::USAGE, format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Config {
        match parse(args) {
            Ok(config) => config,
            Err(stop) => panic!("{args:?} failed: {stop:?}"),
        }
    }

    fn stop(args: &[&str]) -> Stop {
        match parse(args) {
            Ok(config) => panic!("{args:?} parsed: {config:?}"),
            Err(stop) => stop,
        }
    }

    /// The service and its endpoints, as descriptions.
    fn serve(config: &Config) -> (Service, Vec<String>) {
        match &config.command {
            Command::Serve { service, listen } => (
                *service,
                listen.endpoints.iter().map(|e| e.to_string()).collect(),
            ),
            other => panic!("not a service: {other:?}"),
        }
    }

    /// The error line printed for `args`, which must fail with exit 64.
    fn usage_line(args: &[&str]) -> String {
        match stop(args) {
            Stop::Failure(f) => {
                assert_eq!(f.code, 64, "{args:?}");
                f.line()
            }
            Stop::Clap(e) => panic!("{args:?}: a clap error, not an endpoint error: {e}"),
        }
    }

    /// `exec`: the program and its arguments after `--`, the grace period,
    /// the limits; one thread only; a program is required.
    #[test]
    fn exec_takes_a_program_after_the_double_dash() {
        let config = parse_ok(&[
            "gyre",
            "exec",
            "--listen",
            "tcp:0",
            "--max-connections",
            "3",
            "--grace",
            "0.5",
            "--",
            "sh",
            "-c",
            "cat -n",
        ]);
        let Command::Exec { spec, listen } = &config.command else {
            panic!("not exec: {:?}", config.command);
        };
        assert_eq!(spec.program, "sh");
        assert_eq!(spec.args, ["-c", "cat -n"]);
        assert_eq!(spec.grace, Duration::from_millis(500));
        assert_eq!(listen.limits.max_connections, Some(3));
        let config = parse_ok(&["gyre", "exec", "--", "cat"]);
        let Command::Exec { spec, .. } = &config.command else {
            panic!("not exec");
        };
        assert_eq!(spec.grace, crate::services::exec::DEFAULT_GRACE);
        assert!(spec.args.is_empty());
        assert_eq!(
            usage_line(&["gyre", "exec", "--threads", "2", "--", "cat"]),
            "gyre: --threads: exec runs on one thread only\n"
        );
        assert_eq!(
            usage_line(&["gyre", "exec", "--grace", "-1", "--", "cat"]),
            "gyre: --grace: '-1' is not a positive number of seconds\n"
        );
        assert!(matches!(stop(&["gyre", "exec"]), Stop::Clap(_)));
    }

    /// `--blocked-threshold`: milliseconds, 0 for off, 100 unless given.
    #[test]
    fn blocked_threshold() {
        let config = parse_ok(&["gyre", "echo"]);
        assert_eq!(
            config.reactor.blocked_threshold(),
            Some(Duration::from_millis(100))
        );
        let config = parse_ok(&["gyre", "--blocked-threshold", "250", "echo"]);
        assert_eq!(
            config.reactor.blocked_threshold(),
            Some(Duration::from_millis(250))
        );
        let config = parse_ok(&["gyre", "echo", "--blocked-threshold", "0"]);
        assert_eq!(config.reactor.blocked_threshold(), None);
        assert!(matches!(
            stop(&["gyre", "--blocked-threshold", "soon", "echo"]),
            Stop::Clap(_)
        ));
    }

    /// The clap definitions are consistent (clap's own debug assertions).
    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    /// Every service name selects its service, listening on tcp:8000 at info by default.
    #[test]
    fn services_and_defaults() {
        let table = [
            ("echo", Service::Echo),
            ("discard", Service::Discard),
            ("chargen", Service::Chargen),
            ("daytime", Service::Daytime),
            ("qotd", Service::Qotd),
            ("time", Service::Time),
        ];
        for (name, service) in table {
            let config = parse_ok(&["gyre", name]);
            assert_eq!(serve(&config), (service, vec!["tcp:8000".to_string()]));
            assert_eq!(config.log_level, LevelFilter::Info);
        }
    }

    /// The limits of a service run.
    fn limits(config: &Config) -> Limits {
        match &config.command {
            Command::Serve { listen, .. } | Command::Forward { listen, .. } => listen.limits,
            other => panic!("not a service: {other:?}"),
        }
    }

    /// `chat` listens on tcp:8123 by default; `portforward` on tcp:6666
    /// and needs `--connect`.
    #[test]
    fn chat_and_portforward_defaults() {
        let config = parse_ok(&["gyre", "chat"]);
        assert_eq!(
            serve(&config),
            (Service::Chat, vec!["tcp:8123".to_string()])
        );
        assert_eq!(limits(&config), Limits::default());
        let config = parse_ok(&["gyre", "chat", "--listen", "tcp:7"]);
        assert_eq!(serve(&config).1, ["tcp:7"]);

        let config = parse_ok(&["gyre", "portforward", "--connect", "tcp:localhost:6665"]);
        let Command::Forward {
            upstream, listen, ..
        } = &config.command
        else {
            panic!("not a forward: {config:?}");
        };
        assert_eq!(upstream.to_string(), "tcp:host=localhost:port=6665");
        let listening: Vec<String> = listen.endpoints.iter().map(|e| e.to_string()).collect();
        assert_eq!(listening, ["tcp:6666"]);
        assert_eq!(
            listen.limits,
            Limits {
                idle_timeout: None,
                max_connections: Some(256),
                ..Limits::default()
            },
            "a forwarder is capped by default"
        );

        let config = parse_ok(&[
            "gyre",
            "portforward",
            "--listen=tcp:1",
            "--connect=tcp:host=10.0.0.2:port=80:timeout=5",
            "--listen",
            "tcp6:2",
        ]);
        let Command::Forward {
            upstream, listen, ..
        } = &config.command
        else {
            panic!("not a forward: {config:?}");
        };
        assert_eq!(upstream.to_string(), "tcp:host=10.0.0.2:port=80:timeout=5");
        let listening: Vec<String> = listen.endpoints.iter().map(|e| e.to_string()).collect();
        assert_eq!(listening, ["tcp:1", "tcp6:2"]);
        // The echo default is untouched by the other commands' defaults.
        assert_eq!(serve(&parse_ok(&["gyre", "echo"])).1, ["tcp:8000"]);
    }

    /// The number of reactor threads of a service run.
    fn threads(config: &Config) -> usize {
        match &config.command {
            Command::Serve { listen, .. } | Command::Forward { listen, .. } => listen.threads,
            other => panic!("not a service: {other:?}"),
        }
    }

    /// `--threads` is taken by every service (chat: 1 only) and keeps the
    /// descriptions to rebuild the endpoints on each thread.
    #[test]
    fn threads_for_every_service() {
        for name in ["echo", "discard", "chargen", "daytime", "qotd", "time"] {
            assert_eq!(threads(&parse_ok(&["gyre", name])), 1, "{name}");
            let config = parse_ok(&["gyre", name, "--threads", "4", "--listen=tcp6:9"]);
            assert_eq!(threads(&config), 4, "{name}");
            let Command::Serve { listen, .. } = &config.command else {
                panic!("not a service");
            };
            assert_eq!(listen.descriptions, ["tcp6:9"]);
        }
        assert_eq!(threads(&parse_ok(&["gyre", "chat", "--threads=1"])), 1);
        let config = parse_ok(&["gyre", "portforward", "--threads=2", "--connect=TCP:a:1"]);
        assert_eq!(threads(&config), 2);
        let Command::Forward {
            upstream_description,
            ..
        } = &config.command
        else {
            panic!("not a forward");
        };
        assert_eq!(upstream_description, "TCP:a:1");
    }

    /// `haproxy:` wraps any listen description, also with `--threads`
    /// (around tcp or tcp6); `portforward --send-proxy` takes v1 or v2.
    #[test]
    fn haproxy_listen_and_send_proxy() {
        let config = parse_ok(&[
            "gyre",
            "echo",
            "--listen",
            "HAProxy:tcp:0:interface=127.0.0.1",
        ]);
        assert_eq!(serve(&config).1, ["haproxy:tcp:0:interface=127.0.0.1"]);
        let config = parse_ok(&["gyre", "echo", "--threads=2", "--listen=haproxy:tcp6:9"]);
        assert_eq!(threads(&config), 2);
        assert_eq!(
            usage_line(&[
                "gyre",
                "echo",
                "--threads=2",
                "--listen=haproxy:haproxy:tcp:9"
            ]),
            "gyre: --threads: 'haproxy:haproxy:tcp:9' cannot be shared between threads (only tcp and tcp6 can, haproxy: or not)\n"
        );
        assert_eq!(behind_haproxy("haproxy:tcp:1"), (true, "tcp:1"));
        assert_eq!(behind_haproxy("tcp:1"), (false, "tcp:1"));
        assert_eq!(behind_haproxy("hap"), (false, "hap"));
        for (flag, version) in [
            (None, None),
            (Some("v1"), Some(Version::V1)),
            (Some("v2"), Some(Version::V2)),
        ] {
            let mut args = vec!["gyre", "portforward", "--connect=tcp:a:1"];
            args.extend(flag.map(|v| ["--send-proxy", v]).iter().flatten());
            let config = parse_ok(&args);
            let Command::Forward { send_proxy, .. } = &config.command else {
                panic!("not a forward");
            };
            assert_eq!(*send_proxy, version, "{flag:?}");
        }
        let stop = stop(&[
            "gyre",
            "portforward",
            "--connect=tcp:a:1",
            "--send-proxy",
            "v3",
        ]);
        assert_eq!(stop.code(), 64);
    }

    /// A bad `--threads` is one line, exit 64.
    #[test]
    fn bad_threads_messages() {
        for bad in ["0", "-1", "", "x", "1.5", "1025"] {
            assert_eq!(
                usage_line(&["gyre", "echo", "--threads", bad]),
                format!("gyre: --threads: '{bad}' is not a whole number from 1 to 1024\n")
            );
        }
        assert_eq!(
            usage_line(&["gyre", "chat", "--threads", "3"]),
            "gyre: --threads: chat keeps its one room on one reactor; it runs with --threads 1 only\n"
        );
    }

    /// `--idle-timeout` and `--max-connections` are taken by every service.
    #[test]
    fn limits_for_every_service() {
        for name in [
            "echo", "discard", "chargen", "daytime", "qotd", "time", "chat",
        ] {
            let config = parse_ok(&["gyre", name, "--idle-timeout", "0.3", "--max-connections=7"]);
            assert_eq!(
                limits(&config),
                Limits {
                    idle_timeout: Some(Duration::from_millis(300)),
                    max_connections: Some(7),
                    ..Limits::default()
                },
                "{name}"
            );
        }
        let config = parse_ok(&[
            "gyre",
            "portforward",
            "--connect",
            "tcp:a:1",
            "--idle-timeout=300",
        ]);
        assert_eq!(
            limits(&config),
            Limits {
                idle_timeout: Some(Duration::from_secs(300)),
                max_connections: Some(256),
                ..Limits::default()
            }
        );
        let config = parse_ok(&[
            "gyre",
            "portforward",
            "--connect",
            "tcp:a:1",
            "--max-connections=5000",
        ]);
        assert_eq!(limits(&config).max_connections, Some(5000));
        let config = parse_ok(&["gyre", "echo", "--max-connections", "1"]);
        assert_eq!(limits(&config).max_connections, Some(1));
        assert_eq!(limits(&config).idle_timeout, None);
        let config = parse_ok(&["gyre", "echo", "--idle-timeout", "1e-3"]);
        assert_eq!(limits(&config).idle_timeout, Some(Duration::from_millis(1)));
    }

    /// `--keepalive` is taken by every service, in whole seconds from 1 to 32767 (Linux's
    /// range for `TCP_KEEPIDLE` and `TCP_KEEPINTVL`); anything else is one line, exit 64.
    #[test]
    fn keepalive_for_every_service() {
        for name in [
            "echo", "discard", "chargen", "daytime", "qotd", "time", "chat",
        ] {
            let config = parse_ok(&["gyre", name, "--keepalive", "15"]);
            assert_eq!(limits(&config).keepalive, Some(Duration::from_secs(15)));
        }
        let config = parse_ok(&[
            "gyre",
            "portforward",
            "--connect=tcp:a:1",
            "--keepalive=32767",
        ]);
        assert_eq!(limits(&config).keepalive, Some(Duration::from_secs(32_767)));
        assert_eq!(limits(&parse_ok(&["gyre", "echo"])).keepalive, None);
        for bad in ["0", "-1", "0.5", "1.5", "", "x", "32768", "1e3"] {
            assert_eq!(
                usage_line(&["gyre", "echo", "--keepalive", bad]),
                format!(
                    "gyre: --keepalive: '{bad}' is not a whole number of seconds from 1 to 32767\n"
                )
            );
        }
    }

    /// Bad limits are one line each, exit 64.
    #[test]
    fn bad_limits_messages() {
        let table = [
            (
                "--idle-timeout",
                "0",
                "'0' is not a positive number of seconds",
            ),
            (
                "--idle-timeout",
                "-1",
                "'-1' is not a positive number of seconds",
            ),
            (
                "--idle-timeout",
                "-0.5",
                "'-0.5' is not a positive number of seconds",
            ),
            (
                "--idle-timeout",
                "inf",
                "'inf' is not a positive number of seconds",
            ),
            (
                "--idle-timeout",
                "NaN",
                "'NaN' is not a positive number of seconds",
            ),
            (
                "--idle-timeout",
                "soon",
                "'soon' is not a number of seconds",
            ),
            ("--idle-timeout", "", "'' is not a number of seconds"),
            ("--idle-timeout", "5s", "'5s' is not a number of seconds"),
            ("--idle-timeout", "1e-12", "'1e-12' is too short to measure"),
            ("--idle-timeout", "1e300", "'1e300' is too long"),
            (
                "--max-connections",
                "0",
                "'0' is not a whole number of at least 1",
            ),
            (
                "--max-connections",
                "-3",
                "'-3' is not a whole number of at least 1",
            ),
            (
                "--max-connections",
                "2.5",
                "'2.5' is not a whole number of at least 1",
            ),
            (
                "--max-connections",
                "many",
                "'many' is not a whole number of at least 1",
            ),
            (
                "--max-connections",
                "",
                "'' is not a whole number of at least 1",
            ),
        ];
        for (option, value, message) in table {
            for service in [&["echo"][..], &["portforward", "--connect", "tcp:a:1"]] {
                let mut args = vec!["gyre"];
                args.extend_from_slice(service);
                args.extend_from_slice(&[option, value]);
                assert_eq!(
                    usage_line(&args),
                    format!("gyre: {option}: {message}\n"),
                    "{args:?}"
                );
            }
        }
    }

    /// `portforward` without `--connect` is a usage error; a bad
    /// `--connect` is one line naming the option.
    #[test]
    fn portforward_needs_a_good_connect() {
        assert_eq!(stop(&["gyre", "portforward"]).code(), 64);
        assert_eq!(
            stop(&["gyre", "portforward", "--listen", "tcp:1"]).code(),
            64
        );
        assert_eq!(
            usage_line(&["gyre", "portforward", "--connect", "tcp:localhost"]),
            "gyre: --connect: invalid endpoint description \"tcp:localhost\": missing parameter 'port'\n"
        );
        let line = usage_line(&[
            "gyre",
            "portforward",
            "--connect",
            "tcp:a:1",
            "--listen",
            "tcp:x",
        ]);
        assert!(line.starts_with("gyre: --listen: "), "{line:?}");
        assert_eq!(
            usage_line(&[
                "gyre",
                "portforward",
                "--listen=tcp:6777:interface=127.0.0.1",
                "--connect=tcp:127.0.0.1:6777",
            ]),
            "gyre: --connect: tcp:127.0.0.1:6777 reaches 127.0.0.1:6777, where this \
             forwarder listens (--listen tcp:6777:interface=127.0.0.1): it would forward \
             every connection to itself\n"
        );
    }

    /// `--listen` repeats, replacing the default, in the order given.
    #[test]
    fn listen_repeats() {
        let config = parse_ok(&[
            "gyre",
            "echo",
            "--listen",
            "tcp:7",
            "--listen=tcp:port=8:interface=127.0.0.1:backlog=9",
        ]);
        assert_eq!(
            serve(&config).1,
            ["tcp:7", "tcp:8:interface=127.0.0.1:backlog=9"]
        );
    }

    /// `--listen` takes the library's grammar: positional and keyword
    /// forms, tcp6, escaped colons; each comes back in its canonical form.
    #[test]
    fn listen_grammar() {
        let table = [
            ("tcp:0", "tcp:0"),
            ("tcp:65535", "tcp:65535"),
            ("tcp:8000:127.0.0.1", "tcp:8000:interface=127.0.0.1"),
            ("tcp:8000:backlog=5", "tcp:8000:backlog=5"),
            (
                "tcp:interface=127.0.0.1:port=1",
                "tcp:1:interface=127.0.0.1",
            ),
            (r"tcp:8000:interface=\:\:1", r"tcp:8000:interface=\:\:1"),
            ("tcp:8000:interface=", "tcp:8000"),
            (r"tcp:80\00", "tcp:8000"),
            ("tcp6:8000", "tcp6:8000"),
            ("TCP6:8000:10", "tcp6:8000:backlog=10"),
            (r"tcp6:8000:interface=\:\:1", r"tcp6:8000:interface=\:\:1"),
        ];
        for (input, canonical) in table {
            let config = parse_ok(&["gyre", "discard", "--listen", input]);
            assert_eq!(serve(&config).1, [canonical], "input {input:?}");
        }
    }

    /// `connect` takes one client description, and `--reconnect`.
    #[test]
    fn connect_arguments() {
        let table = [
            ("tcp:127.0.0.1:8000", "tcp:host=127.0.0.1:port=8000"),
            (
                "tcp:host=localhost:port=8000",
                "tcp:host=localhost:port=8000",
            ),
            (
                "TCP:localhost:80:timeout=5",
                "tcp:host=localhost:port=80:timeout=5",
            ),
            (r"tcp:\:\:1:7", r"tcp:host=\:\:1:port=7"),
        ];
        for (input, canonical) in table {
            for reconnect in [false, true] {
                let mut args = vec!["gyre", "connect", input];
                if reconnect {
                    args.insert(2, "--reconnect");
                }
                match parse_ok(&args).command {
                    Command::Connect {
                        endpoint,
                        reconnect: r,
                    } => {
                        assert_eq!(endpoint.to_string(), canonical, "{args:?}");
                        assert_eq!(r, reconnect, "{args:?}");
                    }
                    other => panic!("{args:?}: {other:?}"),
                }
            }
        }
        let tcp6 = parse_ok(&["gyre", "connect", r"tcp6:\:\:1:7"]);
        assert!(matches!(tcp6.command, Command::Connect { .. }), "{tcp6:?}");
    }

    /// The default log level is info, and warn for `connect` (whose failure
    /// is then its one line); an explicit `--log-level` wins either way.
    #[test]
    fn connect_logs_at_warn_by_default() {
        assert_eq!(parse_ok(&["gyre", "echo"]).log_level, LevelFilter::Info);
        assert_eq!(
            parse_ok(&["gyre", "portforward", "--connect", "tcp:a:1"]).log_level,
            LevelFilter::Info
        );
        assert_eq!(
            parse_ok(&["gyre", "connect", "tcp:a:1"]).log_level,
            LevelFilter::Warn
        );
        assert_eq!(
            parse_ok(&["gyre", "connect", "--reconnect", "tcp:a:1"]).log_level,
            LevelFilter::Warn
        );
        assert_eq!(
            parse_ok(&["gyre", "--log-level", "info", "connect", "tcp:a:1"]).log_level,
            LevelFilter::Info
        );
    }

    /// `--log-level` works before or after the command name.
    #[test]
    fn log_level_is_global() {
        assert_eq!(
            parse_ok(&["gyre", "--log-level", "debug", "qotd"]).log_level,
            LevelFilter::Debug
        );
        assert_eq!(
            parse_ok(&["gyre", "time", "--log-level=error"]).log_level,
            LevelFilter::Error
        );
        assert_eq!(
            parse_ok(&["gyre", "time", "--log-level", "warn"]).log_level,
            LevelFilter::Warn
        );
        assert_eq!(
            parse_ok(&["gyre", "connect", "tcp:a:1", "--log-level", "trace"]).log_level,
            LevelFilter::Trace
        );
    }

    /// Help and version exit 0, in every spelling.
    #[test]
    fn help_and_version_exit_zero() {
        for args in [
            &["gyre", "--help"][..],
            &["gyre", "-h"],
            &["gyre", "help"],
            &["gyre", "help", "echo"],
            &["gyre", "echo", "--help"],
            &["gyre", "connect", "--help"],
            &["gyre", "chat", "--help"],
            &["gyre", "portforward", "--help"],
            &["gyre", "--version"],
            &["gyre", "-V"],
        ] {
            assert_eq!(stop(args).code(), 0, "{args:?}");
        }
        let Stop::Clap(help) = stop(&["gyre", "--help"]) else {
            panic!("not clap")
        };
        let text = help.to_string();
        assert!(text.contains("Usage: gyre [OPTIONS] <COMMAND>"), "{text}");
        for needle in [
            "chargen",
            "connect",
            "chat",
            "portforward",
            "Exit status",
            "tcp6:PORT",
            r"'\:'",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        let Stop::Clap(help) = stop(&["gyre", "connect", "--help"]) else {
            panic!("not clap")
        };
        let text = help.to_string();
        assert!(
            text.contains("Usage: gyre connect [OPTIONS] <ENDPOINT>"),
            "{text}"
        );
        assert!(text.contains("--reconnect"), "{text}");
        let Stop::Clap(help) = stop(&["gyre", "portforward", "--help"]) else {
            panic!("not clap")
        };
        let text = help.to_string();
        for needle in [
            "--connect <ENDPOINT>",
            "[default: tcp:6666]",
            "--idle-timeout <SECONDS>",
            "--max-connections <N>",
            "--max-connections is 256 unless given",
            "forward every connection to itself",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        let Stop::Clap(help) = stop(&["gyre", "chat", "--help"]) else {
            panic!("not clap")
        };
        let text = help.to_string();
        for needle in ["[default: tcp:8123]", "What's your name?", "--idle-timeout"] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        let Stop::Clap(version) = stop(&["gyre", "--version"]) else {
            panic!("not clap")
        };
        assert_eq!(
            version.to_string(),
            format!("gyre {}\n", env!("CARGO_PKG_VERSION"))
        );
    }

    /// Usage errors, clap's and ours, exit 64 (EX_USAGE).
    #[test]
    fn usage_errors_exit_64() {
        for args in [
            &["gyre"][..],
            &["gyre", "nosuch"],
            &["gyre", "echo", "--nosuch"],
            &["gyre", "echo", "extra"],
            &["gyre", "echo", "--listen"],
            &["gyre", "--log-level", "loud", "echo"],
            &["gyre", "echo", "--listen", "tcp:80x"],
            &["gyre", "chat", "--listen", "tcp:1", "--listen", "udp:2"],
            &[
                "gyre",
                "portforward",
                "--listen",
                "udp:2",
                "--connect",
                "tcp:h:1",
            ],
            &["gyre", "echo", "--listen", "udp:2", "--threads", "2"],
            &["gyre", "connect"],
            &["gyre", "connect", "tcp:a:1", "tcp:b:2"],
            &["gyre", "connect", "tcp:localhost"],
            &["gyre", "connect", "--listen", "tcp:1", "tcp:a:1"],
        ] {
            assert_eq!(stop(args).code(), 64, "{args:?}");
        }
    }

    /// A bad `--listen` description is one line: the option, the
    /// description, the bad part.
    #[test]
    fn bad_listen_messages() {
        let table = [
            ("tcp:80x", r#"port '80x' is not an integer"#),
            ("tcp:-1", "port '-1' is out of range (0 to 65535)"),
            ("tcp:65536", "port '65536' is out of range (0 to 65535)"),
            ("tcp:", "port '' is not an integer"),
            ("tcp:backlog=3", "missing parameter 'port'"),
            ("tcp", "missing parameter 'port'"),
            ("", "no endpoint type given"),
            ("8000", "Unknown endpoint type: '8000'"),
            ("udp:x", "port 'x' is not an integer"),
            ("udp:53:backlog=1", "unexpected keyword argument 'backlog'"),
            ("TCP:80", "Unknown endpoint type: 'tcp' (given as 'TCP')"),
            ("tcp:80:backlog=x", "backlog 'x' is not an integer"),
            (
                "tcp:80:interface=localhost",
                "interface 'localhost' is not an IP address",
            ),
            ("tcp:80:interface=::1", "parameter 'interface' given twice"),
            (
                "tcp:80:color=red",
                "unexpected keyword argument 'color' for endpoint type 'tcp'",
            ),
            ("tcp:80:1.2.3.4:5:6", "too many positional arguments"),
            (
                "tcp:80:port=81",
                "parameter 'port' given twice, positionally and as 'port='",
            ),
            (
                "tcp6:80:interface=127.0.0.1",
                "interface '127.0.0.1' is not an IPv6 address",
            ),
            (r"tcp:80\", "it ends with a backslash that escapes nothing"),
        ];
        for (input, part) in table {
            let line = usage_line(&["gyre", "echo", "--listen", input]);
            let prefix = format!("gyre: --listen: invalid endpoint description \"{input}\": ");
            assert!(
                line.starts_with(&prefix) && line[prefix.len()..].contains(part),
                "{input:?}: expected {prefix:?} and {part:?}, got {line:?}"
            );
            assert!(
                line.ends_with('\n') && line.lines().count() == 1,
                "{line:?}"
            );
        }
        assert_eq!(
            usage_line(&["gyre", "echo", "--listen", "tcp:80x"]),
            "gyre: --listen: invalid endpoint description \"tcp:80x\": port '80x' is not an integer\n"
        );
    }

    /// A bad `connect` description is one line naming the description and the bad part.
    #[test]
    fn bad_connect_messages() {
        let table = [
            ("tcp:localhost", "missing parameter 'port'"),
            ("tcp:host=:port=80", "parameter 'host' is empty"),
            ("tcp:localhost:http", "port 'http' is not an integer"),
            ("unix:", "parameter 'path' is empty"),
            ("unix:/tmp/x:timeout=x", "timeout 'x' is not an integer"),
            (
                "tcp6:127.0.0.1:80",
                "host '127.0.0.1' is not an IPv6 address or a host name",
            ),
            (
                "tcp:a:1:bindAddress=nowhere",
                "bindAddress 'nowhere' is not an IP address",
            ),
        ];
        for (input, part) in table {
            let line = usage_line(&["gyre", "connect", input]);
            let prefix = format!("gyre: connect: invalid endpoint description \"{input}\": ");
            assert!(
                line.starts_with(&prefix) && line[prefix.len()..].contains(part),
                "{input:?}: expected {prefix:?} and {part:?}, got {line:?}"
            );
            assert_eq!(line.lines().count(), 1, "{line:?}");
        }
    }
}
