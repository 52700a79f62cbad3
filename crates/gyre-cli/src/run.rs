//! Running a [`Config`]: install the logger, open the ports (or connect),
//! run the reactor.
//!
//! A one-reactor run is a service run ([`Reactor::run_service`], Twisted's
//! `twistd` model): every endpoint becomes a [`StreamServerEndpointService`]
//! under one [`MultiService`], all sharing one [`Shared`] factory, so
//! `Starting factory` is logged once however many ports there are, and
//! `Stopping factory` once after the last one closes. The ports open before
//! the loop starts; the first that cannot be opened is the run's failure.
//! On SIGINT or SIGTERM the reactor stops the services first (the ports
//! close, as twistd's do, in the before-shutdown phase), then closes the
//! connections, then logs `Main loop terminated.`; `run` returns and the
//! command exits 0. Failures become one line and a sysexits code (see
//! `exit.rs`). `--idle-timeout` and `--max-connections` wrap the shared
//! factory in the library's `TimeoutFactory` and `LimitConnections`,
//! `--keepalive` in [`keepalive::KeepAlive`] (see [`open`]); `portforward`
//! is served like any other service, with its own factory. `connect` runs in
//! [`crate::connect`].
//!
//! With `--threads N` (N > 1) the service runs on a [`ReactorPool`] instead
//! (see [`serve_threads`]): N reactors on N threads, each building its own
//! factory (wrapped in its own policies, so the limits count per thread)
//! and opening its own `SO_REUSEPORT` socket on every endpoint, rebuilt from
//! the descriptions since an endpoint belongs to one reactor. The pool
//! handles SIGINT and SIGTERM (`Received SIGTERM, shutting down.`), stops
//! every reactor in order (each logs its `Main loop terminated.`), and the
//! command exits 0; a setup failure on any thread stops them all and is the
//! run's failure. Needs sockets, so it is exercised by the integration tests
//! rather than unit tests.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use gyre::application::{MultiService, StreamServerEndpointService};
use gyre::endpoint::spec::{UdpServerSpec, parse_tcp_server};
use gyre::endpoint::{ServerEndpoint, client_from_string};
use gyre::haproxy::{AcceptSettings, Version};
use gyre::protocols::policies::{LimitConnections, TimeoutFactory};
use gyre::{
    Factory, PoolError, Reactor, ReactorError, ReactorPool, Shared, TcpListenOptions, Worker,
    WrappingFactory,
};

use crate::config::{Command, Config, Limits, Listen};
use crate::exit::{self, Failure};
use crate::flags::behind_haproxy;
use crate::services::chargen::Chargen;
use crate::services::chat::ChatFactory;
use crate::services::daytime::Daytime;
use crate::services::discard::Discard;
use crate::services::echo::Echo;
use crate::services::portforward::ProxyFactory;
use crate::services::qotd::Qotd;
use crate::services::time::Time;
use crate::services::udp::Udp;
use crate::services::{Service, WireFactory};
use crate::{connect, keepalive, panics};

/// Runs the command described by `config` until the reactor stops.
pub(crate) fn run(config: Config) -> ExitCode {
    // Twisted's format in local time, as twistd logs; the one logger of the
    // process, so the error (another logger present) cannot happen here.
    let _ = gyre::log::Logger::new(std::io::stderr())
        .with_level(config.log_level)
        .install();
    let Config {
        reactor, command, ..
    } = config;
    // `--blocked-threshold`, set on the config's reactor, for every reactor.
    let blocked = reactor.blocked_threshold();
    let outcome = panics::catching(move || match command {
        Command::Serve { service, listen } if listen.threads > 1 => {
            serve_threads(Some(service), None, &listen, blocked)
        }
        Command::Serve { service, listen } => serve(&reactor, service, listen),
        Command::Forward {
            upstream_description,
            send_proxy,
            listen,
            ..
        } if listen.threads > 1 => serve_threads(
            None,
            Some((upstream_description, send_proxy)),
            &listen,
            blocked,
        ),
        Command::Forward {
            upstream,
            send_proxy,
            listen,
            ..
        } => {
            let factory = ProxyFactory::new(upstream).with_send_proxy(send_proxy);
            let root = open(&reactor, listen, factory);
            run_root(&reactor, root)
        }
        Command::Exec { spec, listen } => {
            let factory = crate::services::exec::ExecFactory::new(&reactor, spec);
            let root = open(&reactor, listen, factory);
            run_root(&reactor, root)
        }
        Command::Connect {
            endpoint,
            reconnect,
        } => connect::run(&reactor, endpoint, reconnect),
        Command::Logbot { endpoint, options } => logbot(&reactor, endpoint, options),
    });
    match outcome.and_then(|ran| ran) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// `gyre logbot`: the bot runs until SIGINT/SIGTERM; a first connection
/// attempt that fails is the run's failure (one line, exit 69).
fn logbot(
    reactor: &Reactor,
    endpoint: Rc<dyn gyre::endpoint::ClientEndpoint>,
    options: gyre_irc::logbot::LogBotOptions,
) -> Result<(), Failure> {
    let bot = gyre_irc::logbot::LogBotRunner::start(reactor, endpoint, options);
    reactor.run().map_err(|e| Failure::reactor_run(&e))?;
    match bot.first_failure() {
        Some(reason) => Err(Failure::new(
            exit::UNAVAILABLE,
            format!("connection failed: {reason}"),
        )),
        None => Ok(()),
    }
}

fn serve(reactor: &Reactor, service: Service, listen: Listen) -> Result<(), Failure> {
    let udp = listen.udp.clone();
    let root = match service {
        Service::Echo => open(reactor, listen, WireFactory::<Echo>::new()),
        Service::Discard => open(reactor, listen, WireFactory::<Discard>::new()),
        Service::Chargen => open(reactor, listen, WireFactory::<Chargen>::new()),
        Service::Daytime => open(reactor, listen, WireFactory::<Daytime>::new()),
        Service::Qotd => open(reactor, listen, WireFactory::<Qotd>::new()),
        Service::Time => open(reactor, listen, WireFactory::<Time>::new()),
        Service::Chat => open(reactor, listen, ChatFactory::new()),
    };
    let _udp_ports = open_udp(reactor, service, &udp)?;
    run_root(reactor, root)
}

/// Runs the reactor with `root` as the program's service
/// ([`Reactor::run_service`]): its ports open before the loop starts (the
/// first that cannot be opened is the run's failure, and nothing runs),
/// and SIGINT or SIGTERM stop it, closing the ports, before the loop ends.
fn run_root(reactor: &Reactor, root: MultiService) -> Result<(), Failure> {
    reactor
        .run_service(root)
        .map_err(|failure| match failure.check::<ReactorError>() {
            Some(err) => Failure::reactor_run(err),
            None => Failure::listen_failed(&failure),
        })
}

/// Opens the UDP ports `udp` (`udp:7`), all with one protocol: the
/// service's datagram form ([`Udp`]). The parser admits `udp:` only for a
/// service that has one.
fn open_udp(
    reactor: &Reactor,
    service: Service,
    udp: &[UdpServerSpec],
) -> Result<Vec<gyre::udp::DatagramTransport>, Failure> {
    let Some(protocol) = Udp::of(service) else {
        return Ok(Vec::new());
    };
    let protocol = gyre::udp::SharedDatagram::new(protocol);
    udp.iter()
        .map(|spec| {
            let options = gyre::udp::UdpListenOptions {
                interface: spec.interface.clone(),
                ..Default::default()
            };
            reactor
                .listen_udp_with(spec.port, protocol.clone(), options)
                .map_err(|e| Failure::listen(&e))
        })
        .collect()
}

/// One service per endpoint of `listen`, all with one shared `factory`,
/// wrapped in the policies `listen.limits` asks for (see [`with_limits`]).
fn open<F: Factory>(reactor: &Reactor, listen: Listen, factory: F) -> MultiService {
    let endpoints = Endpoints {
        endpoints: listen.endpoints,
    };
    with_limits(reactor, listen.limits, factory, endpoints)
}

/// Something that listens with a factory, whatever its type.
trait ListenWith {
    /// What listening gives back.
    type Out;
    /// Listens with `factory`.
    fn listen<G: Factory>(self, factory: Shared<G>) -> Self::Out;
}

/// Wraps `factory` in the policies `limits` asks for and listens with it
/// through `listener`: `--keepalive` innermost (see [`keepalive`]), then
/// [`with_timeout_and_limit`].
fn with_limits<F: Factory, L: ListenWith>(
    reactor: &Reactor,
    limits: Limits,
    factory: F,
    listener: L,
) -> L::Out {
    match limits.keepalive {
        None => with_timeout_and_limit(reactor, limits, factory, listener),
        Some(every) => {
            let probed = keepalive::wrap(factory, every);
            with_timeout_and_limit(reactor, limits, probed, listener)
        }
    }
}

/// Wraps `factory` in the idle timeout and the connection limit `limits`
/// asks for (the limit outermost, so a refused connection never starts an
/// idle timer; the reactor is the timers' clock) and listens with it
/// through `listener`.
fn with_timeout_and_limit<F: Factory, L: ListenWith>(
    reactor: &Reactor,
    limits: Limits,
    factory: F,
    listener: L,
) -> L::Out {
    match (limits.idle_timeout, limits.max_connections) {
        (None, None) => listener.listen(Shared::new(factory)),
        (Some(idle), None) => {
            let timed = TimeoutFactory::new(reactor, factory, idle);
            listener.listen(Shared::new(timed))
        }
        (None, Some(max)) => {
            let limited = LimitConnections::new(factory).with_max_total(Some(max));
            listener.listen(Shared::new(limited))
        }
        (Some(idle), Some(max)) => {
            let timed = TimeoutFactory::new(reactor, factory, idle);
            let limited = LimitConnections::new(timed).with_max_total(Some(max));
            listener.listen(Shared::new(limited))
        }
    }
}

/// The endpoints of a one-reactor run, each to become a
/// [`StreamServerEndpointService`] under one root.
struct Endpoints {
    endpoints: Vec<Box<dyn ServerEndpoint>>,
}

impl ListenWith for Endpoints {
    type Out = MultiService;

    fn listen<G: Factory>(self, factory: Shared<G>) -> MultiService {
        let root = MultiService::new();
        for endpoint in self.endpoints {
            let service = StreamServerEndpointService::new(endpoint, factory.clone());
            // Unnamed, and the root is not running yet: adding cannot fail.
            let _ = root.add_service(service);
        }
        root
    }
}

/// Runs a service (or, with `upstream` and its `--send-proxy`, the port
/// forwarder) on `listen.threads` reactors, each with its own factory and
/// its own `SO_REUSEPORT` socket on every endpoint, until SIGINT or SIGTERM.
fn serve_threads(
    service: Option<Service>,
    upstream: Option<(String, Option<Version>)>,
    listen: &Listen,
    blocked: Option<Duration>,
) -> Result<(), Failure> {
    let descriptions = listen.descriptions.clone();
    let limits = listen.limits;
    let setup = move |reactor: &Reactor, worker: &Worker| -> Result<(), Failure> {
        reactor.set_blocked_threshold(blocked);
        let ports = PoolPorts {
            reactor,
            worker,
            descriptions: &descriptions,
        };
        match (service, &upstream) {
            (Some(service), _) => match service {
                Service::Echo => with_limits(reactor, limits, WireFactory::<Echo>::new(), ports),
                Service::Discard => {
                    with_limits(reactor, limits, WireFactory::<Discard>::new(), ports)
                }
                Service::Chargen => {
                    with_limits(reactor, limits, WireFactory::<Chargen>::new(), ports)
                }
                Service::Daytime => {
                    with_limits(reactor, limits, WireFactory::<Daytime>::new(), ports)
                }
                Service::Qotd => with_limits(reactor, limits, WireFactory::<Qotd>::new(), ports),
                Service::Time => with_limits(reactor, limits, WireFactory::<Time>::new(), ports),
                Service::Chat => with_limits(reactor, limits, ChatFactory::new(), ports),
            },
            (None, Some((upstream, send_proxy))) => {
                let endpoint = client_from_string(reactor, upstream)
                    .map_err(|e| Failure::new(exit::USAGE, format!("--connect: {e}")))?;
                let factory = ProxyFactory::new(Rc::from(endpoint)).with_send_proxy(*send_proxy);
                with_limits(reactor, limits, factory, ports)
            }
            (None, None) => Ok(()),
        }
    };
    ReactorPool::new(listen.threads)
        .run(setup)
        .map_err(|e| match e {
            PoolError::Setup { error, .. } => error,
            PoolError::Panicked { message, .. } => {
                Failure::new(exit::SOFTWARE, format!("internal error: {message}"))
            }
            PoolError::Reactor { error, .. } => Failure::reactor_run(&error),
            PoolError::Signals(error) | PoolError::Spawn { error, .. } => Failure::new(
                exit::OSERR,
                format!("cannot start the reactor threads: {error}"),
            ),
            PoolError::NoThreads => Failure::new(exit::USAGE, "--threads: at least 1"),
        })
}

/// Listening on every endpoint from one thread of a `--threads` run.
struct PoolPorts<'a> {
    reactor: &'a Reactor,
    worker: &'a Worker,
    descriptions: &'a [String],
}

impl ListenWith for PoolPorts<'_> {
    type Out = Result<(), Failure>;

    fn listen<G: Factory>(self, factory: Shared<G>) -> Result<(), Failure> {
        for description in self.descriptions {
            // Checked when the arguments were read: tcp or tcp6 only, each
            // perhaps inside haproxy:.
            let (proxied, tcp) = behind_haproxy(description);
            let spec = parse_tcp_server(tcp)
                .map_err(|e| Failure::new(exit::USAGE, format!("--listen: {e}")))?;
            let options = TcpListenOptions {
                backlog: spec.backlog,
                interface: spec.interface,
                reuse_port: true,
            };
            let listened = if proxied {
                let settings = AcceptSettings::new(self.reactor);
                let wrapped = WrappingFactory::wrap(factory.clone(), settings);
                self.worker
                    .listen_tcp(self.reactor, spec.port, wrapped, options)
            } else {
                self.worker
                    .listen_tcp(self.reactor, spec.port, factory.clone(), options)
            };
            listened.map_err(|e| Failure::listen(&e))?;
        }
        Ok(())
    }
}
