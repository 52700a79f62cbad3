//! [`TlsServerEndpoint`] and [`TlsClientEndpoint`]: any stream endpoint
//! with TLS on every connection (`ssl:` and `tls:` descriptions, parsed by
//! the registry in `strings.rs`). Feature `tls`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{ClientEndpoint, ServerEndpoint};
use crate::deferred::Deferred;
use crate::error::ConnectError;
use crate::factory::AnyFactory;
use crate::tcp::ListeningPort;
use crate::time::Clock;
use crate::tls::{ClientTls, DEFAULT_HANDSHAKE_TIMEOUT, ServerTls, TlsSettings, tls_factory};
use crate::transport::Transport;

/// Listens on any server endpoint and speaks TLS, as a server, on every
/// connection it accepts (Twisted's `SSL4ServerEndpoint`, generalised).
pub struct TlsServerEndpoint {
    wrapped: Box<dyn ServerEndpoint>,
    clock: Rc<dyn Clock>,
    tls: ServerTls,
    timeout: Option<Duration>,
}

impl TlsServerEndpoint {
    /// TLS with `tls` over `wrapped`; handshakes are timed on `clock`.
    pub fn new(
        clock: &(impl Clock + Clone + 'static),
        wrapped: Box<dyn ServerEndpoint>,
        tls: ServerTls,
    ) -> Self {
        TlsServerEndpoint {
            wrapped,
            clock: crate::time::keep(clock),
            tls,
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// How long a client may take to finish its handshake (`None`: no limit).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

impl ServerEndpoint for TlsServerEndpoint {
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort> {
        let settings =
            TlsSettings::server(&self.clock, self.tls.clone()).with_handshake_timeout(self.timeout);
        self.wrapped
            .listen_any(AnyFactory::new(tls_factory(factory, settings)))
    }
}

impl fmt::Display for TlsServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tls-server:{}", self.wrapped)
    }
}

impl fmt::Debug for TlsServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsServerEndpoint({self})")
    }
}

/// Connects with any client endpoint and speaks TLS, as a client, checking
/// the server's certificate for a host name (Twisted's `tls:` client
/// endpoint and `SSL4ClientEndpoint` with `optionsForClientTLS`).
///
/// `connect` fires once the handshake is done and the protocol's
/// `connection_made` ran; a failed handshake fails it with
/// [`ConnectError::Tls`] (Twisted would succeed and then lose the
/// connection).
pub struct TlsClientEndpoint {
    wrapped: Box<dyn ClientEndpoint>,
    clock: Rc<dyn Clock>,
    tls: ClientTls,
    name: String,
    timeout: Option<Duration>,
    shown: Option<String>,
}

impl TlsClientEndpoint {
    /// TLS with `tls` over `wrapped`, checking the certificate for `name`.
    pub fn new(
        clock: &(impl Clock + Clone + 'static),
        wrapped: Box<dyn ClientEndpoint>,
        tls: ClientTls,
        name: &str,
    ) -> Self {
        TlsClientEndpoint {
            wrapped,
            clock: crate::time::keep(clock),
            tls,
            name: name.to_string(),
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            shown: None,
        }
    }

    /// How it shows itself (in `connect` errors): its description.
    pub(crate) fn shown_as(mut self, text: String) -> Self {
        self.shown = Some(text);
        self
    }

    /// How long the handshake may take (`None`: no limit).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

impl ClientEndpoint for TlsClientEndpoint {
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
        let below: Rc<RefCell<Option<Deferred<Transport>>>> = Rc::default();
        let made: Rc<RefCell<Option<Transport>>> = Rc::default();
        let (below_c, made_c) = (below.clone(), made.clone());
        let result = Deferred::with_canceller(move |_| {
            if let Some(d) = below_c.borrow().as_ref() {
                d.cancel();
            }
            if let Some(t) = made_c.borrow().as_ref() {
                t.abort_connection();
            }
        });
        // Strong: the caller may keep only a Deferred chained after this one.
        let on_handshake = result.clone();
        let settings = TlsSettings::client(&self.clock, self.tls.clone(), &self.name)
            .with_handshake_timeout(self.timeout)
            .with_handshake_hook(Rc::new(move |outcome| {
                let d = &on_handshake;
                if d.is_called() {
                    return;
                }
                let _ = match outcome {
                    Ok(transport) => d.callback(transport),
                    Err(e) => d.errback(ConnectError::Tls(e)),
                };
            }));
        let connecting = self
            .wrapped
            .connect_any(AnyFactory::new(tls_factory(factory, settings)));
        *below.borrow_mut() = Some(connecting.clone());
        let on_connect = result.clone();
        connecting.consume(move |outcome| match outcome {
            // The socket is up; the handshake decides.
            Ok(transport) => *made.borrow_mut() = Some(transport),
            Err(failure) => {
                if !on_connect.is_called() {
                    let _ = on_connect.errback(failure);
                }
            }
        });
        result
    }
}

impl fmt::Display for TlsClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shown {
            Some(text) => f.write_str(text),
            None => write!(f, "tls:{} over {}", self.name, self.wrapped),
        }
    }
}

impl fmt::Debug for TlsClientEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsClientEndpoint({self})")
    }
}
