//! Command-line arguments: clap definitions, and their resolution into a
//! [`Config`].
//!
//! [`parse`] is the only entry point. It never exits the process: it returns
//! either a `Config` or a [`Stop`] that knows what to print and which exit
//! status to use (0 for `--help`/`--version`, 64 for every usage error,
//! endpoint strings included). Tests for the whole mapping are at the bottom
//! of this file.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand, ValueEnum};
use log::LevelFilter;

use crate::config::Config;
use crate::endpoint::{self, EndpointError};
use crate::exit::{self, Failure};
use crate::services::Service;

/// Shown after the options in `gyre --help`.
const AFTER_HELP: &str = "\
Endpoints: tcp:PORT[:interface=IP][:backlog=N] or tcp:port=PORT[...]; \
write ':' inside a value as '\\:' (interface=\\:\\:1). Port 0 picks a free port.

Exit status: 0 after SIGINT/SIGTERM or --help/--version; 64 bad arguments; \
69 a port could not be opened; 77 permission denied; 70 internal error; \
71 the system refused to start the reactor.";

/// gyre: classic network services on the gyre reactor.
///
/// Runs one service on one or more TCP ports until interrupted (SIGINT or
/// SIGTERM), logging to standard error.
#[derive(Debug, Parser)]
#[command(name = "gyre", version, after_help = AFTER_HELP)]
#[command(subcommand_required = true, arg_required_else_help = true)]
struct Args {
    /// Most verbose log level to print.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LogLevel::Info, global = true)]
    log_level: LogLevel,

    #[command(subcommand)]
    service: ServiceArgs,
}

/// The services, one subcommand each.
#[derive(Debug, Subcommand)]
enum ServiceArgs {
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
}

/// Options every service takes.
#[derive(Debug, clap::Args)]
struct ListenArgs {
    /// Where to listen; repeat to listen on several endpoints
    /// (e.g. tcp:8000, tcp:8000:interface=127.0.0.1, tcp:port=7:backlog=128)
    #[arg(long = "listen", value_name = "ENDPOINT", default_value = "tcp:8000")]
    listen: Vec<String>,
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
    /// A `--listen` value that is not a valid endpoint.
    Endpoint(EndpointError),
}

impl Stop {
    /// The exit status: 0 for help and version, 64 (`EX_USAGE`) otherwise.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Stop::Clap(e)
                if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) =>
            {
                0
            }
            _ => exit::USAGE,
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
            Stop::Endpoint(e) => Failure::new(self.code(), e.to_string()).report(),
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
    resolve(args).map_err(Stop::Endpoint)
}

/// Turns parsed arguments into a config: picks the service, parses endpoints.
fn resolve(args: Args) -> Result<Config, EndpointError> {
    let (service, listen) = match args.service {
        ServiceArgs::Echo(l) => (Service::Echo, l),
        ServiceArgs::Discard(l) => (Service::Discard, l),
        ServiceArgs::Chargen(l) => (Service::Chargen, l),
        ServiceArgs::Daytime(l) => (Service::Daytime, l),
        ServiceArgs::Qotd(l) => (Service::Qotd, l),
        ServiceArgs::Time(l) => (Service::Time, l),
    };
    let endpoints = listen
        .listen
        .iter()
        .map(|s| endpoint::parse(s))
        .collect::<Result<_, _>>()?;
    Ok(Config {
        service,
        endpoints,
        log_level: args.log_level.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::TcpEndpoint;

    fn tcp(port: u16, interface: &str) -> TcpEndpoint {
        TcpEndpoint {
            port,
            interface: interface.to_string(),
            backlog: endpoint::DEFAULT_BACKLOG,
        }
    }

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
            assert_eq!(
                config,
                Config {
                    service,
                    endpoints: vec![tcp(8000, "")],
                    log_level: LevelFilter::Info
                }
            );
        }
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
        let mut second = tcp(8, "127.0.0.1");
        second.backlog = 9;
        assert_eq!(config.endpoints, vec![tcp(7, ""), second]);
    }

    /// `--log-level` works before or after the service name.
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
            parse_ok(&["gyre", "time", "--log-level", "trace"]).log_level,
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
        assert!(
            text.contains("chargen") && text.contains("Exit status"),
            "{text}"
        );
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
            &["gyre", "echo", "--listen", "tcp:1", "--listen", "udp:2"],
        ] {
            assert_eq!(stop(args).code(), 64, "{args:?}");
        }
    }

    /// A bad endpoint is reported as one line naming the bad part.
    #[test]
    fn bad_endpoint_message() {
        let Stop::Endpoint(err) = stop(&["gyre", "echo", "--listen", "tcp:80x"]) else {
            panic!("not an endpoint error")
        };
        let line = Failure::new(64, err.to_string()).line();
        assert_eq!(
            line,
            "gyre: bad endpoint 'tcp:80x': port '80x' is not a number\n"
        );
    }
}
