//! Typed specifications for the `unix` endpoint types, parsed as Twisted's
//! `_parseUNIX` and `_parseClientUNIX` parse them:
//!
//! * server `unix:<path>[:mode=<octal>][:backlog=<n>][:lockfile=0|1]`
//!   (positionally: address, mode, backlog, lockfile; the path may also be
//!   `address=`). `mode` is read in base 8 (`660`, `0o660`; default
//!   `666`), and **`lockfile` defaults to on**, as in Twisted: a listener
//!   from a string takes the `<path>.lock` PID lock unless it says
//!   `lockfile=0`;
//! * client `unix:<path>[:timeout=<s>][:lockfile=0|1]` (the path may also
//!   be `path=`); `lockfile` is Twisted's name for the client's `checkPID`,
//!   which is also accepted as `checkPID=0|1`.
//!
//! Like `tcp`, `unix` is a core type in Twisted, so a server description
//! must write it in lower case; a client's type ignores case.
//!
//! Where gyre differs, on purpose:
//!
//! * a path starting with `@` is a Linux abstract name (`unix:@gyre` listens
//!   on `\0gyre`, with no file); Twisted takes it as a file named `@gyre`.
//!   Write `unix:./@gyre` for such a file;
//! * an empty path is an error here (Twisted fails later, in `bind`);
//! * `checkPID=0` means no check (Twisted passes the text on, and any
//!   non-empty text is true); a path given both positionally and as
//!   `path=` is an error (Twisted keeps the positional one);
//! * a server without `backlog` gets [`DEFAULT_BACKLOG`](super::DEFAULT_BACKLOG),
//!   1024, as for `tcp`, not 50; `timeout=0` means no timeout, as for `tcp`.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::parse::{Parsed, parse, quote_string_argument};
use super::{
    DEFAULT_BACKLOG, DEFAULT_TIMEOUT, EndpointError, bind, client_type_key, endpoint_type, integer,
    missing, python_int, python_int_in, server_type_key, unknown_type,
};

/// The socket file's mode when a description gives none: `0o666`.
pub const DEFAULT_MODE: u32 = 0o666;

/// A UNIX stream server endpoint: the socket's path and how to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixServerSpec {
    /// The socket's path; a Linux abstract name (written `@name`) starts
    /// with a NUL byte.
    pub path: PathBuf,
    /// The socket file's permission bits ([`DEFAULT_MODE`] unless given).
    pub mode: u32,
    /// The listen queue length ([`DEFAULT_BACKLOG`](super::DEFAULT_BACKLOG)
    /// unless given).
    pub backlog: u32,
    /// Take the `<path>.lock` PID lock (`lockfile`, on unless `lockfile=0`).
    pub want_pid: bool,
}

/// A UNIX stream client endpoint: the path to connect to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixClientSpec {
    /// The socket's path (or abstract name, written `@name`).
    pub path: PathBuf,
    /// How long to wait ([`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT) unless
    /// given; `timeout=0` gives `None`, no timeout).
    pub timeout: Option<Duration>,
    /// Connect only while a live process holds the server's PID lock
    /// (`lockfile=1` or `checkPID=1`).
    pub check_pid: bool,
}

/// A path as written in a description: `@name` is an abstract name.
fn path_of(description: &str, name: &str, value: &str) -> Result<PathBuf, EndpointError> {
    if value.is_empty() {
        return Err(EndpointError::EmptyParameter {
            description: description.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(match value.strip_prefix('@') {
        Some(abstract_name) => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(abstract_name.as_bytes());
            PathBuf::from(OsString::from_vec(bytes))
        }
        None => PathBuf::from(value),
    })
}

/// A path as a description writes it: an abstract name as `@name`.
fn written_path(path: &Path) -> String {
    let text = match path.as_os_str().as_bytes().split_first() {
        Some((0, name)) => format!("@{}", String::from_utf8_lossy(name)),
        _ => path.to_string_lossy().into_owned(),
    };
    quote_string_argument(&text)
}

/// A `0|1` flag as Python's `bool(int(value))`: any non-zero integer is on.
fn flag(description: &str, name: &str, value: &str) -> Result<bool, EndpointError> {
    match python_int(value) {
        Some((_, Some(0))) => Ok(false),
        Some(_) => Ok(true),
        None => Err(EndpointError::NotAnInteger {
            description: description.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// A file mode as Python's `int(value, 8)`, from 0 to 0o7777.
fn mode(description: &str, value: &str) -> Result<u32, EndpointError> {
    const MAX: u64 = 0o7777;
    match python_int_in(value, 8) {
        None => Err(EndpointError::NotOctal {
            description: description.to_owned(),
            name: "mode".to_owned(),
            value: value.to_owned(),
        }),
        Some((_, Some(0))) => Ok(0),
        Some((false, Some(n))) if n <= MAX => Ok(u32::try_from(n).expect("range checked")),
        Some(_) => Err(EndpointError::OutOfRange {
            description: description.to_owned(),
            name: "mode".to_owned(),
            value: value.to_owned(),
            min: 0,
            max: MAX,
        }),
    }
}

impl UnixServerSpec {
    /// Builds the spec from a parsed `unix` server description (the type
    /// itself is not checked; `description` is only quoted in errors).
    pub fn from_parsed(description: &str, parsed: &Parsed) -> Result<Self, EndpointError> {
        let names = &["address", "mode", "backlog", "lockfile"];
        let args = bind(description, parsed, names, names)?;
        let address = args
            .get("address")
            .ok_or_else(|| missing(description, "address"))?;
        let path = path_of(description, "address", address)?;
        let mode = match args.get("mode") {
            Some(value) => mode(description, value)?,
            None => DEFAULT_MODE,
        };
        let backlog = match args.get("backlog") {
            Some(value) => {
                let backlog = integer(description, "backlog", value, u64::from(u32::MAX))?;
                u32::try_from(backlog).expect("range checked")
            }
            None => DEFAULT_BACKLOG,
        };
        let want_pid = match args.get("lockfile") {
            Some(value) => flag(description, "lockfile", value)?,
            None => true,
        };
        Ok(UnixServerSpec {
            path,
            mode,
            backlog,
            want_pid,
        })
    }
}

impl UnixClientSpec {
    /// Builds the spec from a parsed `unix` client description (the type
    /// itself is not checked; `description` is only quoted in errors).
    pub fn from_parsed(description: &str, parsed: &Parsed) -> Result<Self, EndpointError> {
        let args = bind(
            description,
            parsed,
            &["path"],
            &["path", "timeout", "lockfile", "checkPID"],
        )?;
        let path = args
            .get("path")
            .ok_or_else(|| missing(description, "path"))?;
        let path = path_of(description, "path", path)?;
        let timeout = match args.get("timeout") {
            Some(value) => match integer(description, "timeout", value, u64::MAX)? {
                0 => None,
                seconds => Some(Duration::from_secs(seconds)),
            },
            None => Some(DEFAULT_TIMEOUT),
        };
        if args.get("lockfile").is_some() && args.get("checkPID").is_some() {
            return Err(EndpointError::DuplicateParameter {
                description: description.to_owned(),
                name: "lockfile".to_owned(),
            });
        }
        let check_pid = match (args.get("lockfile"), args.get("checkPID")) {
            (Some(value), _) => flag(description, "lockfile", value)?,
            (None, Some(value)) => flag(description, "checkPID", value)?,
            (None, None) => false,
        };
        Ok(UnixClientSpec {
            path,
            timeout,
            check_pid,
        })
    }
}

/// The shortest description that parses back to this spec: the path
/// positionally, then `mode`, `backlog` and `lockfile=0` where they differ
/// from the defaults (`unix:/run/echo.sock:mode=660`).
impl fmt::Display for UnixServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix:{}", written_path(&self.path))?;
        if self.mode != DEFAULT_MODE {
            write!(f, ":mode={:o}", self.mode)?;
        }
        if self.backlog != DEFAULT_BACKLOG {
            write!(f, ":backlog={}", self.backlog)?;
        }
        if !self.want_pid {
            f.write_str(":lockfile=0")?;
        }
        Ok(())
    }
}

/// A description that parses back to this spec: `unix:path=<path>`, then
/// `timeout` unless it is the default and `lockfile=1` if the PID is
/// checked. The timeout is written in whole seconds.
impl fmt::Display for UnixClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix:path={}", written_path(&self.path))?;
        match self.timeout {
            Some(timeout) if timeout == DEFAULT_TIMEOUT => {}
            Some(timeout) => write!(f, ":timeout={}", timeout.as_secs())?,
            None => f.write_str(":timeout=0")?,
        }
        if self.check_pid {
            f.write_str(":lockfile=1")?;
        }
        Ok(())
    }
}

/// Parses a `unix` server description (the type in lower case only).
///
/// ```
/// use gyre::endpoint::spec::parse_unix_server;
///
/// let spec = parse_unix_server("unix:/run/echo.sock:mode=660:lockfile=0").unwrap();
/// assert_eq!((spec.mode, spec.want_pid), (0o660, false));
/// assert_eq!(spec.path, std::path::Path::new("/run/echo.sock"));
/// assert!(parse_unix_server("unix:/run/echo.sock").unwrap().want_pid);
/// ```
pub fn parse_unix_server(description: &str) -> Result<UnixServerSpec, EndpointError> {
    let parsed = parse(description)?;
    let kind = endpoint_type(description, &parsed)?;
    match server_type_key(kind) {
        Some("unix") => UnixServerSpec::from_parsed(description, &parsed),
        _ => Err(unknown_type(description, kind)),
    }
}

/// Parses a `unix` client description (the type in any case).
///
/// ```
/// use gyre::endpoint::spec::parse_unix_client;
///
/// let spec = parse_unix_client("UNIX:path=/run/echo.sock:timeout=9:lockfile=1").unwrap();
/// assert_eq!(spec.timeout, Some(std::time::Duration::from_secs(9)));
/// assert!(spec.check_pid);
/// ```
pub fn parse_unix_client(description: &str) -> Result<UnixClientSpec, EndpointError> {
    let parsed = parse(description)?;
    let kind = endpoint_type(description, &parsed)?;
    match client_type_key(kind).as_str() {
        "unix" => UnixClientSpec::from_parsed(description, &parsed),
        _ => Err(unknown_type(description, kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(path: &str, mode: u32, backlog: u32, want_pid: bool) -> UnixServerSpec {
        UnixServerSpec {
            path: PathBuf::from(path),
            mode,
            backlog,
            want_pid,
        }
    }

    fn client(path: &str, timeout: Option<u64>, check_pid: bool) -> UnixClientSpec {
        UnixClientSpec {
            path: PathBuf::from(path),
            timeout: timeout.map(Duration::from_secs),
            check_pid,
        }
    }

    /// Server descriptions parse as Twisted 26.10's `serverFromString`
    /// parses them (address, mode, backlog and wantPID printed by the
    /// venv's Twisted); the backlog default is gyre's 1024.
    #[test]
    fn server_descriptions_as_twisted() {
        let d = DEFAULT_BACKLOG;
        let table = [
            ("unix:/tmp/x", server("/tmp/x", 0o666, d, true)),
            ("unix:address=/tmp/x", server("/tmp/x", 0o666, d, true)),
            ("unix:/tmp/x:mode=660", server("/tmp/x", 0o660, d, true)),
            ("unix:/tmp/x:mode=0o660", server("/tmp/x", 0o660, d, true)),
            ("unix:/tmp/x:660:10:0", server("/tmp/x", 0o660, 10, false)),
            ("unix:/tmp/x:lockfile=0", server("/tmp/x", 0o666, d, false)),
            (
                "unix:/tmp/x:lockfile=1:backlog=7",
                server("/tmp/x", 0o666, 7, true),
            ),
            ("unix:/tmp/x:lockfile=2", server("/tmp/x", 0o666, d, true)),
            ("unix:/tmp/x:mode= 6_6_0 ", server("/tmp/x", 0o660, d, true)),
            (r"unix:/tmp/a\:b", server("/tmp/a:b", 0o666, d, true)),
        ];
        for (description, expected) in table {
            assert_eq!(
                parse_unix_server(description),
                Ok(expected),
                "{description:?}"
            );
        }
    }

    /// What Twisted refuses, gyre refuses with a typed error.
    #[test]
    fn server_errors() {
        let table = [
            ("unix:/tmp/x:mode=8", "mode '8' is not an octal integer"),
            ("UNIX:/tmp/x", "Unknown endpoint type: 'unix'"),
            ("unix", "missing parameter 'address'"),
            ("unix:", "parameter 'address' is empty"),
            (
                "unix:/tmp/x:lockfile=yes",
                "lockfile 'yes' is not an integer",
            ),
            ("unix:/tmp/x:foo=1", "unexpected keyword argument 'foo'"),
            ("unix:/tmp/x:1:2:3:4", "too many positional arguments"),
            ("unix:/tmp/x:mode=17777", "mode '17777' is out of range"),
        ];
        for (description, expected) in table {
            let err = parse_unix_server(description).unwrap_err().to_string();
            assert!(err.contains(expected), "{description:?}: {err}");
        }
    }

    /// Client descriptions parse as Twisted's `clientFromString` parses
    /// them (path, timeout and checkPID printed by the venv's Twisted).
    #[test]
    fn client_descriptions_as_twisted() {
        let table = [
            ("unix:/tmp/x", client("/tmp/x", Some(30), false)),
            ("unix:path=/tmp/x", client("/tmp/x", Some(30), false)),
            ("UNIX:/tmp/x", client("/tmp/x", Some(30), false)),
            (
                "unix:/tmp/x:timeout=9:lockfile=1",
                client("/tmp/x", Some(9), true),
            ),
            ("unix:/tmp/x:checkPID=1", client("/tmp/x", Some(30), true)),
            ("unix:/tmp/x:lockfile=0", client("/tmp/x", Some(30), false)),
            // gyre: no timeout, as for `tcp` (Twisted times out at once).
            ("unix:/tmp/x:timeout=0", client("/tmp/x", None, false)),
            // gyre: `checkPID=0` is off (Twisted: the text "0", true).
            ("unix:/tmp/x:checkPID=0", client("/tmp/x", Some(30), false)),
        ];
        for (description, expected) in table {
            assert_eq!(
                parse_unix_client(description),
                Ok(expected),
                "{description:?}"
            );
        }
    }

    #[test]
    fn client_errors() {
        let table = [
            ("unix:/tmp/x:timeout=x", "timeout 'x' is not an integer"),
            ("unix", "missing parameter 'path'"),
            ("unix:", "parameter 'path' is empty"),
            ("unix:/a:/b", "too many positional arguments"),
            ("unix:/tmp/x:foo=1", "unexpected keyword argument 'foo'"),
            (
                "unix:address=/tmp/x",
                "unexpected keyword argument 'address'",
            ),
            ("unix:/tmp/x:path=/y", "given twice"),
            ("unix:/x:lockfile=1:checkPID=1", "given twice"),
        ];
        for (description, expected) in table {
            let err = parse_unix_client(description).unwrap_err().to_string();
            assert!(err.contains(expected), "{description:?}: {err}");
        }
    }

    /// `@name` is an abstract name (a leading NUL), and writes back as
    /// `@name`; every spec's description parses back to the spec.
    #[test]
    fn abstract_names_and_round_trips() {
        let spec = parse_unix_server("unix:@gyre-echo").unwrap();
        assert_eq!(spec.path.as_os_str().as_bytes(), b"\0gyre-echo");
        assert_eq!(spec.to_string(), "unix:@gyre-echo");
        let specs = [
            server("/tmp/x", 0o660, 10, false),
            server("/tmp/a:b", 0o666, DEFAULT_BACKLOG, true),
            server("/tmp/x", 0, 0, true),
        ];
        for spec in specs {
            assert_eq!(parse_unix_server(&spec.to_string()), Ok(spec.clone()));
        }
        let clients = [
            client("/tmp/x", Some(30), false),
            client("/tmp/a:b", None, true),
            client("/tmp/x", Some(5), false),
        ];
        for spec in clients {
            assert_eq!(parse_unix_client(&spec.to_string()), Ok(spec.clone()));
        }
        let abstract_client = parse_unix_client("unix:@gyre").unwrap();
        assert_eq!(abstract_client.path.as_os_str().as_bytes(), b"\0gyre");
        assert_eq!(abstract_client.to_string(), "unix:path=@gyre");
    }
}
