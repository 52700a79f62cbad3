//! Logging: Twisted's log format, and the context that names who logged.
//!
//! gyre logs through the [`log`] facade. [`start_logging`] installs a
//! logger in Twisted's legacy format, the seeds' `log.startLogging(sys.stdout)`:
//!
//! ```text
//! 2026-11-21 18:02:33+0800 [Echo,0,127.0.0.1] text
//! ```
//!
//! [`Logger`] is the same with a choice of zone and level, and any other
//! `log` logger works too (call [`system()`] in it for the bracketed part).
//!
//! Like Twisted, every line can say on whose behalf it was written: the
//! reactor sets a *system* (a log prefix such as `Echo,0,127.0.0.1`,
//! `EchoClient,client` or a factory's name) around each dispatch, and a
//! logger reads it with [`system()`]. Outside any dispatch the system is `-`.
//!
//! The context is a thread-local: one reactor per thread, so it is always the
//! right one. On the read path it is just the source's token (two stores, no
//! reference count): the reactor registers a resolver that finds the source
//! by token when a line is actually logged. Elsewhere it is a shared handle
//! to the object (a reference-count increment). Either way the string is
//! only built when a line is logged.
//!
//! Where things are, lowest first: `log/civil.rs` (calendar arithmetic,
//! [`CivilTime`]), `log/zone.rs` ([`TimeZone`], read as the C library reads
//! `TZ`), `log/logger.rs` ([`Logger`], [`format_line`]); the context is in
//! this file.

mod civil;
mod logger;
mod zone;

pub use civil::{CivilTime, unix_seconds};
pub use logger::{AlreadyLogging, Logger, format_line, start_logging};
pub use zone::TimeZone;

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

/// Something that can name itself in a log line's system field.
pub(crate) trait LogContext {
    /// The system text, e.g. `Echo,0,127.0.0.1`.
    fn system(&self) -> String;
}

impl LogContext for String {
    fn system(&self) -> String {
        self.clone()
    }
}

/// Names a source by its token (see [`set_source_resolver`]).
pub(crate) type SourceResolver = Rc<dyn Fn(usize) -> Option<String>>;

/// [`DISPATCH`] when no source is being dispatched.
const NO_SOURCE: usize = usize::MAX;

thread_local! {
    // A `Cell`, not a `RefCell`: entering and leaving are one swap each.
    static CONTEXT: std::cell::Cell<Option<Rc<dyn LogContext>>> = const { std::cell::Cell::new(None) };
    /// The token of the source whose read is being dispatched: the system
    /// when no object was entered ([`dispatching`]). Two stores a read.
    static DISPATCH: std::cell::Cell<usize> = const { std::cell::Cell::new(NO_SOURCE) };
    /// How the running reactor names its sources.
    static RESOLVER: std::cell::RefCell<Option<SourceResolver>> = const { std::cell::RefCell::new(None) };
    /// The index of the [`ReactorPool`](crate::ReactorPool) thread this is.
    static THREAD_TAG: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The system of the dispatch in progress on this thread, or `-`.
///
/// On a [`ReactorPool`](crate::ReactorPool) thread the system ends with the
/// thread's index: `Echo,0,127.0.0.1,reactor-1`, or `reactor-1` instead of `-`.
///
/// A logger of your own calls it for the bracketed part of its lines. What
/// it says inside a protocol's callbacks, on a real connection:
///
/// ```
/// use std::cell::RefCell;
/// use std::io::Write;
/// use std::rc::Rc;
///
/// use gyre::{Address, Factory, Protocol, Reactor, Reason, TcpListenOptions, Transport};
///
/// struct Echo {
///     systems: Rc<RefCell<Vec<String>>>,
///     reactor: Reactor,
/// }
/// impl Protocol for Echo {
///     fn data_received(&mut self, _: &Transport, _: &[u8]) {
///         self.systems.borrow_mut().push(gyre::log::system());
///     }
///     fn connection_lost(&mut self, _: Reason) {
///         self.reactor.stop().unwrap();
///     }
/// }
///
/// struct EchoFactory {
///     systems: Rc<RefCell<Vec<String>>>,
///     reactor: Reactor,
/// }
/// impl Factory for EchoFactory {
///     type Protocol = Echo;
///     fn build_protocol(&self, _: &Address) -> Option<Echo> {
///         Some(Echo { systems: self.systems.clone(), reactor: self.reactor.clone() })
///     }
/// }
///
/// assert_eq!(gyre::log::system(), "-", "outside any dispatch");
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let systems = Rc::new(RefCell::new(Vec::new()));
/// let factory = EchoFactory { systems: systems.clone(), reactor: reactor.clone() };
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let address = reactor.listen_tcp_with(0, factory, loopback)?.address();
/// std::thread::spawn(move || {
///     std::net::TcpStream::connect(address).unwrap().write_all(b"hi").unwrap();
/// }); // the stream is dropped: the connection closes
/// reactor.run()?;
/// // The protocol's name, the connection's number on its port, the peer.
/// assert_eq!(*systems.borrow(), ["Echo,0,127.0.0.1"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn system() -> String {
    let base = CONTEXT.with(|c| {
        let ctx = c.take();
        let system = match &ctx {
            Some(named) => Some(named.system()),
            None => match DISPATCH.with(|d| d.get()) {
                NO_SOURCE => None,
                token => {
                    let resolver = RESOLVER.with(|r| r.borrow().clone());
                    resolver.and_then(|resolve| resolve(token))
                }
            },
        };
        c.set(ctx);
        system
    });
    match (base, THREAD_TAG.with(|t| t.get())) {
        (Some(s), None) => s,
        (None, None) => "-".to_string(),
        (Some(s), Some(i)) => format!("{s},reactor-{i}"),
        (None, Some(i)) => format!("reactor-{i}"),
    }
}

/// Marks this thread as pool thread `index` for [`system`].
pub(crate) fn set_thread_tag(index: Option<usize>) {
    THREAD_TAG.with(|t| t.set(index));
}

/// Runs `f` with `system` as the log context, then restores the previous one.
///
/// Useful to give log lines of your own work (a thread's results handed back
/// to the reactor, say) a system name.
///
/// ```
/// use gyre::log::{system, with_system};
///
/// let seen = with_system("backup", || {
///     let inner = with_system("backup,disk-2", system);
///     (system(), inner)
/// });
/// assert_eq!(seen, ("backup".to_string(), "backup,disk-2".to_string()));
/// assert_eq!(system(), "-", "restored afterwards");
/// ```
pub fn with_system<R>(system: impl Into<String>, f: impl FnOnce() -> R) -> R {
    let _guard = enter(Rc::new(system.into()));
    f()
}

/// Restores the previous context when dropped.
#[must_use]
pub(crate) struct ContextGuard {
    previous: Option<Rc<dyn LogContext>>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let prev = self.previous.take();
        drop(CONTEXT.with(|c| c.replace(prev)));
    }
}

/// Makes `ctx` the current log context until the guard drops.
pub(crate) fn enter(ctx: Rc<dyn LogContext>) -> ContextGuard {
    let previous = CONTEXT.with(|c| c.replace(Some(ctx)));
    ContextGuard { previous }
}

/// Makes `-` the current log context until the guard drops: no object is
/// entered and no source is being dispatched. Twisted's lines written
/// through its new `Logger` (`Starting factory`, `Stopping factory`) carry
/// no context, so they show `[-]` wherever they are emitted (reference
/// §11.1); gyre logs those inside this guard.
pub(crate) fn enter_none() -> NoneGuard {
    NoneGuard {
        _context: ContextGuard {
            previous: CONTEXT.with(|c| c.take()),
        },
        _dispatch: DispatchGuard {
            previous: DISPATCH.with(|d| d.replace(NO_SOURCE)),
        },
    }
}

/// Restores the previous context and dispatched source when dropped.
#[must_use]
pub(crate) struct NoneGuard {
    _context: ContextGuard,
    _dispatch: DispatchGuard,
}

/// Restores the previous dispatched source when dropped.
#[must_use]
pub(crate) struct DispatchGuard {
    previous: usize,
}

impl Drop for DispatchGuard {
    fn drop(&mut self) {
        DISPATCH.with(|d| d.set(self.previous));
    }
}

/// Names the reactor's source `token` as the one being dispatched until the
/// guard drops: lines logged meanwhile, with no object entered
/// ([`enter`]), get its system, worked out by the resolver the reactor
/// registered, and only when a line is logged. The source must stay
/// registered under `token` while the guard lives, and no object may be
/// entered around the guard (an entered object wins).
pub(crate) fn dispatching(token: usize) -> DispatchGuard {
    DispatchGuard {
        previous: DISPATCH.with(|d| d.replace(token)),
    }
}

/// Installs how this thread's running reactor names its sources by token
/// (for [`enter_source`]); returns the one it replaces.
pub(crate) fn set_source_resolver(resolver: Option<SourceResolver>) -> Option<SourceResolver> {
    RESOLVER.with(|r| std::mem::replace(&mut *r.borrow_mut(), resolver))
}

/// The last path segment of a type name, generics kept short:
/// `my_crate::proto::Echo` → `Echo`, `a::Wrap<b::Inner>` → `Wrap<Inner>`.
///
/// Names are worked out once per type and thread and then shared, so using
/// this as a per-connection log prefix costs no allocation.
pub fn short_type_name<T: ?Sized + 'static>() -> Cow<'static, str> {
    thread_local! {
        static NAMES: RefCell<HashMap<TypeId, &'static str>> = RefCell::new(HashMap::new());
    }
    let full = std::any::type_name::<T>();
    if !full.contains("::") {
        return Cow::Borrowed(full);
    }
    let name = NAMES.with(|names| {
        *names
            .borrow_mut()
            .entry(TypeId::of::<T>())
            // One short string per type, kept for the life of the process.
            .or_insert_with(|| Box::leak(shorten(full).into_boxed_str()))
    });
    Cow::Borrowed(name)
}

fn shorten(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    let bytes = full.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b':' if i + 1 < bytes.len() && bytes[i + 1] == b':' => {
                i += 2;
                segment_start = i;
                continue;
            }
            b'<' | b'>' | b',' | b' ' | b'(' | b')' | b'&' | b'[' | b']' | b';' => {
                out.push_str(&full[segment_start..i]);
                out.push(bytes[i] as char);
                segment_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&full[segment_start..]);
    out
}

/// Runs `f`, catching a panic; returns the panic's message on failure.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, Arc<str>> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

/// The message carried by a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("Box<dyn Any>")
    }
}

/// Logs a panic caught in the callback `site` the way Twisted logs an
/// unhandled error: `Unhandled Error`, then what panicked and its message.
pub(crate) fn log_panic(site: &str, message: &str) {
    log::error!(target: "gyre", "Unhandled Error\npanic in {site}: {message}");
}

/// Logs a caught panic under a header saying what the reactor was doing
/// (`while calling from thread`), as Twisted's `log.err(failure, why)`.
pub(crate) fn log_failure(why: &str, message: &str) {
    log::error!(target: "gyre", "{why}\npanic: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system is `-` outside a dispatch and restored after a nested one.
    #[test]
    fn context_nests_and_restores() {
        assert_eq!(system(), "-");
        with_system("outer", || {
            assert_eq!(system(), "outer");
            with_system("inner", || assert_eq!(system(), "inner"));
            assert_eq!(system(), "outer");
            let _g = enter_none();
            assert_eq!(system(), "-");
        });
        assert_eq!(system(), "-");
    }

    /// `enter_none` gives `-` during a source's dispatch too, and restores
    /// the dispatched source after.
    #[test]
    fn enter_none_hides_the_dispatched_source() {
        let previous = set_source_resolver(Some(Rc::new(|token| Some(format!("source {token}")))));
        {
            let _d = dispatching(7);
            assert_eq!(system(), "source 7");
            {
                let _g = enter_none();
                assert_eq!(system(), "-");
            }
            assert_eq!(system(), "source 7");
        }
        assert_eq!(system(), "-");
        set_source_resolver(previous);
    }

    /// Short type names drop module paths, also inside generics.
    #[test]
    fn short_names() {
        struct Echo;
        assert_eq!(short_type_name::<Echo>(), "Echo");
        assert_eq!(short_type_name::<Option<Echo>>(), "Option<Echo>");
        assert_eq!(short_type_name::<u8>(), "u8");
    }

    /// A caught panic yields its message, for both string kinds.
    #[test]
    fn guarded_catches() {
        assert_eq!(&*guarded(|| panic!("boom")).unwrap_err(), "boom");
        assert_eq!(&*guarded(|| panic!("n={}", 3)).unwrap_err(), "n=3");
        assert_eq!(guarded(|| 5).unwrap(), 5);
    }
}
