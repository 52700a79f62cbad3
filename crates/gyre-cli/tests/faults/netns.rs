//! A small network of its own for each fault test: three network
//! namespaces, a client, a router and a server, joined by two veth pairs,
//! with faults put on the router's links.
//!
//! ```text
//!  client ns             router ns                    server ns
//!  c0 10.199.0.2/30 ─── r0 10.199.0.1/30
//!                        r1 10.199.0.5/30 ────────── s0 10.199.0.6/30
//! ```
//!
//! The client and the server route everything through the router, which
//! forwards. Faults sit on the egress of both router links (`r0` towards
//! the client, `r1` towards the server), so they hit both directions and
//! neither end's TCP can see them: a packet the router drops is lost on the
//! wire (a drop on the sender's own interface would be reported back to
//! its TCP, which just sends again). The faults are made with `tc` from
//! what this kernel has (`CONFIG_NET_SCH_NETEM` is not set here, so no
//! netem): an HTB root with three classes, and a classic-BPF classifier
//! that draws a random number per IPv4 packet and picks the class
//! (ARP passes untouched):
//!
//! * `1:1` pass: at full speed;
//! * `1:2` drop: its leaf is a `pfifo` of length 0, so every packet sent
//!   there is dropped (loss);
//! * `1:3` slow: 5 Mbit/s, so a packet sent there falls behind the ones
//!   sent after it through `1:1` (reordering).
//!
//! [`Net::blackhole`] swaps the classifier for one that sends every IPv4
//! packet to `1:2`: the link is dead both ways with no FIN, no reset and
//! no ICMP, which is how a peer that vanished (powered off, unplugged)
//! looks. The senders use `gso_max_segs 1`, so a packet is one segment.
//!
//! ## Delay: a relay over TUN devices
//!
//! `tc` cannot delay a packet on this kernel (no netem, no `sch_fq`), so
//! [`Net::with_delay`] sends the router's forwarded traffic through a
//! program instead: `faults/delay_relay.py`, which holds each packet for
//! the delay and drops a share at random (`faults/relay.rs` runs it). In
//! the router namespace there are two TUN devices, `ta` and `tb`, and
//! policy routing:
//!
//! ```text
//!  c0 ──▶ r0 ─(ip rule iif r0: table 100, default dev ta)─▶ ta ─┐
//!                                                     delay_relay.py
//!  s0 ◀── r1 ◀──────(main table, by destination)◀──── tb ◀──────┘
//! ```
//!
//! and the mirror image from `r1` (table 101, `default dev tb`) through the
//! relay into `ta` and out of `r0`. A packet the relay writes into a TUN
//! device is received by the router's kernel on it, as if from a wire, and
//! routed by the main table; only packets that came in on `r0` or `r1`
//! meet the two rules, so nothing loops. Reverse-path filtering is off in
//! the router (a packet from the client arrives on `tb`, which has no
//! route back to the client). Each packet is forwarded twice inside the
//! router (its TTL drops by two). The `tc` classes stay on `r0`/`r1` and
//! pass everything unless a test also calls [`Net::set_faults`].
//!
//! The relay runs inside the router namespace (`ip netns exec … python3`),
//! a child of the test that the [`Net`] owns: dropping the `Net` kills and
//! reaps it before deleting the namespaces, and a relay whose test process
//! died without unwinding exits when its stdin closes.
//!
//! Every name holds this process's id and a counter (`gyref<pid>n<k>c`,
//! `…r`, `…s`), so parallel tests and test binaries never collide; the
//! veth devices are made inside their namespaces and never exist in the
//! machine's own. The addresses (10.199.0.0/29) exist only inside the
//! namespaces. Dropping a [`Net`] deletes its namespaces, which takes
//! their devices with them, also when the test panicked; namespaces left
//! behind by a process that was killed are deleted by the next test binary
//! that starts one (its pid is no longer alive). Every `ip`/`tc` command is
//! bounded by [`COMMAND_LIMIT`].
//!
//! Needs root and iproute2 (`ip`, `tc`): without them the tests fail, with
//! a message saying so, rather than skip.

use std::fs::File;
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use crate::relay::{Relay, RelayCounts};

/// The router's TUN devices: the client's side of the relay, the server's.
const TUNS: [&str; 2] = ["ta", "tb"];

/// How long one `ip` or `tc` command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);

/// The client's address.
pub(crate) const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 2);
/// The server's address.
pub(crate) const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 6);

/// The prefix of every namespace this kit makes.
const PREFIX: &str = "gyref";

/// Random faults on both router links, in percent of IPv4 packets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    /// Packets dropped.
    pub(crate) loss: u32,
    /// Packets sent through the slow class, behind later ones.
    pub(crate) reorder: u32,
}

/// Three namespaces and two links; see the module docs.
#[derive(Debug)]
pub(crate) struct Net {
    client: String,
    router: String,
    server: String,
    /// The delay relay, for a network made by [`Net::with_delay`].
    relay: Option<Relay>,
}

/// Packet counts of the router's classes, both links together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Packets dropped by the `1:2` class.
    pub(crate) dropped: u64,
    /// Packets sent through the slow `1:3` class.
    pub(crate) slowed: u64,
}

impl Net {
    /// Makes the namespaces and links, with no faults yet. Panics, saying
    /// what failed, if it cannot (not root, no iproute2, no HTB or BPF
    /// classifier in the kernel); whatever was made is removed first.
    #[track_caller]
    pub(crate) fn new() -> Net {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(sweep_stale);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("{PREFIX}{}n{k}", std::process::id());
        let net = Net {
            client: format!("{base}c"),
            router: format!("{base}r"),
            server: format!("{base}s"),
            relay: None,
        };
        // Dropped on a panic below, so what exists is removed.
        net.build();
        net
    }

    /// Makes the namespaces and links with the delay relay between them:
    /// every IPv4 packet the router forwards, either way, waits `one_way`
    /// in the relay, and `loss` % of them are dropped there at random.
    /// Panics, saying what failed, if it cannot (no TUN, no python3); what
    /// was made is removed first.
    #[track_caller]
    pub(crate) fn with_delay(one_way: Duration, loss: u32) -> Net {
        assert!(loss <= 100, "{loss} %");
        let mut net = Net::new();
        net.route_through_tun();
        net.relay = Some(Relay::start(&net.router, TUNS, one_way, loss));
        net
    }

    /// The TUN devices and the policy routing of the delay path (module
    /// docs): what comes in on `r0` goes into `ta`, what comes in on `r1`
    /// into `tb`; what the relay writes into either is routed by the main
    /// table.
    fn route_through_tun(&self) {
        let r = self.router.as_str();
        for (tun, from, table) in [(TUNS[0], "r0", "100"), (TUNS[1], "r1", "101")] {
            ip(&["-n", r, "tuntap", "add", "dev", tun, "mode", "tun"]);
            ip(&["-n", r, "link", "set", tun, "up"]);
            ip(&[
                "-n", r, "route", "add", "default", "dev", tun, "table", table,
            ]);
            ip(&["-n", r, "rule", "add", "iif", from, "table", table]);
        }
        in_namespace(r, || {
            // A packet the relay writes into `tb` has the client's source
            // address and comes in on a device that has no route back to
            // it: reverse-path filtering (the effective value is the
            // larger of `all` and the device's) would drop it. Writing
            // `ip_forward` again turns forwarding on for the new devices.
            for conf in ["all", "default", "r0", "r1", TUNS[0], TUNS[1]] {
                let path = format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter");
                std::fs::write(&path, "0").unwrap_or_else(|e| panic!("write {path}: {e}"));
            }
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("turn on forwarding");
        });
    }

    fn build(&self) {
        let (c, r, s) = (&self.client, &self.router, &self.server);
        for ns in [c, r, s] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let link = |a_ns: &str, a: &str, b_ns: &str, b: &str| {
            ip(&[
                "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b, "netns", b_ns,
            ]);
        };
        link(c, "c0", r, "r0");
        link(r, "r1", s, "s0");
        ip(&["-n", c, "addr", "add", "10.199.0.2/30", "dev", "c0"]);
        ip(&["-n", r, "addr", "add", "10.199.0.1/30", "dev", "r0"]);
        ip(&["-n", r, "addr", "add", "10.199.0.5/30", "dev", "r1"]);
        ip(&["-n", s, "addr", "add", "10.199.0.6/30", "dev", "s0"]);
        for (ns, dev) in [(c, "c0"), (r, "r0"), (r, "r1"), (s, "s0")] {
            ip(&["-n", ns, "link", "set", dev, "gso_max_segs", "1", "up"]);
        }
        ip(&["-n", c, "route", "add", "default", "via", "10.199.0.1"]);
        ip(&["-n", s, "route", "add", "default", "via", "10.199.0.5"]);
        in_namespace(r, || {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("turn on forwarding")
        });
        for dev in ["r0", "r1"] {
            self.qdiscs(dev);
        }
        self.set_faults(Faults::default());
    }

    /// The HTB root and its three classes on router link `dev`.
    fn qdiscs(&self, dev: &str) {
        let tc = |args: &[&str]| self.tc(args);
        tc(&[
            "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1",
        ]);
        for (class, rate, quantum) in [
            ("1:1", "10gbit", "60000"),
            ("1:2", "10gbit", "60000"),
            ("1:3", "5mbit", "1514"),
        ] {
            tc(&[
                "class", "add", "dev", dev, "parent", "1:", "classid", class, "htb", "rate", rate,
                "ceil", rate, "quantum", quantum,
            ]);
        }
        tc(&[
            "qdisc", "add", "dev", dev, "parent", "1:2", "handle", "2:", "pfifo", "limit", "0",
        ]);
    }

    /// Runs `tc ARGS` in the router namespace; panics if it fails.
    #[track_caller]
    fn tc(&self, args: &[&str]) -> String {
        let mut all = vec!["tc", "-n", self.router.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Replaces the classifier on both router links with `program` (classic
    /// BPF, `tc`'s `bytecode` syntax: returns the class id).
    fn classify(&self, program: &str) {
        for dev in ["r0", "r1"] {
            // Delete whatever classifier there is (none the first time,
            // which tc may call an error).
            let router = self.router.as_str();
            let _ = try_run(&[
                "tc", "-n", router, "filter", "del", "dev", dev, "parent", "1:",
            ]);
            self.tc(&[
                "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "bpf",
                "bytecode", program,
            ]);
        }
    }

    /// Drops `faults.loss` % of the IPv4 packets on both links and sends
    /// `faults.reorder` % through the slow class; the rest pass.
    pub(crate) fn set_faults(&self, faults: Faults) {
        assert!(faults.loss + faults.reorder <= 100, "{faults:?}");
        let share = |percent: u32| (u64::from(percent) << 32) / 100;
        let drop_below = share(faults.loss);
        let slow_below = share(faults.loss + faults.reorder);
        // A = random u32; A < drop_below: drop; A < slow_below: slow; else pass.
        // (`32 0 0 4294963256` loads a random word: SKF_AD_OFF + SKF_AD_RANDOM;
        // `53 1 0 k` is jge: skip the next instruction when A >= k; `6 0 0 c`
        // returns class c: 65537 is 1:1, 65538 is 1:2, 65539 is 1:3.)
        // With faults.loss + faults.reorder = 100, slow_below is 2^32, which
        // no u32 reaches: 0xffffffff is close enough (one in four billion).
        let k = |v: u64| v.min(u64::from(u32::MAX));
        let program = format!(
            "6,32 0 0 4294963256,53 1 0 {},6 0 0 65538,53 1 0 {},6 0 0 65539,6 0 0 65537",
            k(drop_below),
            k(slow_below)
        );
        self.classify(&program);
    }

    /// Drops every IPv4 packet on both links from now on: the peers can no
    /// longer reach each other, and neither is told.
    pub(crate) fn blackhole(&self) {
        self.classify("1,6 0 0 65538");
    }

    /// How many packets the router dropped and slowed so far.
    pub(crate) fn counts(&self) -> Counts {
        let mut counts = Counts {
            dropped: 0,
            slowed: 0,
        };
        for dev in ["r0", "r1"] {
            let out = self.tc(&["-s", "class", "show", "dev", dev]);
            counts.dropped += class_stat(&out, "1:2", "dropped ");
            counts.slowed += class_stat(&out, "1:3", "bytes ");
        }
        counts
    }

    /// What the delay relay did so far; panics on a network made without
    /// one ([`Net::new`]).
    #[track_caller]
    pub(crate) fn relay_counts(&self) -> RelayCounts {
        self.relay
            .as_ref()
            .expect("a network made by Net::with_delay")
            .counts()
    }

    /// The server namespace's name (for `Gyre::start_in_netns`).
    pub(crate) fn server_ns(&self) -> &str {
        &self.server
    }

    /// The client namespace's name.
    pub(crate) fn client_ns(&self) -> &str {
        &self.client
    }

    /// Runs `f` on a new thread that has joined the client namespace, and
    /// returns the thread (sockets it makes are the client's).
    pub(crate) fn spawn_in_client<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let ns = self.client.clone();
        thread::spawn(move || {
            enter(&ns);
            f()
        })
    }

    /// A counter of namespace `ns` from `file` (`netstat`: group
    /// `TcpExt`; `snmp`: group `Tcp`) of its `/proc/net`.
    pub(crate) fn tcp_counter(&self, ns: &str, file: &str, group: &str, name: &str) -> u64 {
        // /proc/thread-self/net is the calling thread's namespace's.
        let path = format!("/proc/thread-self/net/{file}");
        let text = in_namespace(ns, || std::fs::read_to_string(&path))
            .unwrap_or_else(|e| panic!("read {path} in {ns}: {e}"));
        let prefix = format!("{group}:");
        let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
        while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
            if let Some(at) = names.split_whitespace().position(|n| n == name) {
                return values
                    .split_whitespace()
                    .nth(at)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("bad {group} {name} in {file}:\n{text}"));
            }
        }
        panic!("no {group} {name} in {file} of {ns}:\n{text}");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // The relay first: a process inside keeps a namespace alive after
        // `ip netns del`.
        drop(self.relay.take());
        for ns in [&self.client, &self.router, &self.server] {
            let _ = try_run(&["ip", "netns", "del", ns]);
        }
    }
}

/// Moves the calling thread into the network namespace `ns`.
#[track_caller]
fn enter(ns: &str) {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
        .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
}

/// Runs `f` on a thread in the network namespace `ns`; returns its result.
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| {
        let thread = s.spawn(|| {
            enter(ns);
            f()
        });
        match thread.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The number after `field` in the statistics line of class `class`.
fn class_stat(out: &str, class: &str, field: &str) -> u64 {
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        if line.starts_with(&format!("class htb {class} ")) {
            let stats = lines.next().unwrap_or("");
            // " Sent 239516 bytes 216 pkt (dropped 0, overlimits 214 requeues 0)"
            let after = stats
                .split_once(field)
                .map(|(_, rest)| rest)
                .unwrap_or_else(|| panic!("no {field:?} in {stats:?}"));
            let number: String = after.chars().take_while(char::is_ascii_digit).collect();
            return number.parse().unwrap_or_else(|_| panic!("{stats:?}"));
        }
    }
    panic!("no class {class} in:\n{out}");
}

/// Deletes the namespaces of test processes that are gone.
fn sweep_stale() {
    let Ok(list) = try_run(&["ip", "netns", "list"]) else {
        return; // the first real command will fail and say why
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = try_run(&["ip", "netns", "del", name]);
        }
    }
}

/// Runs `ip ARGS`; panics if it fails.
#[track_caller]
fn ip(args: &[&str]) -> String {
    let mut all = vec!["ip"];
    all.extend_from_slice(args);
    run(&all)
}

/// Runs a command to its end (bounded by [`COMMAND_LIMIT`]); panics with
/// its output if it cannot be run or fails.
#[track_caller]
fn run(argv: &[&str]) -> String {
    match try_run(argv) {
        Ok(out) => out,
        Err(e) => panic!("{e}"),
    }
}

/// Runs a command to its end (bounded by [`COMMAND_LIMIT`]): its standard
/// output, or why it failed.
fn try_run(argv: &[&str]) -> Result<String, String> {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run `{}`: {e}. The fault tests need root and iproute2 (ip, tc); \
                 scripts/test-all installs iproute2",
                argv.join(" ")
            )
        })?;
    // Read both pipes on threads, so a long output cannot block the child.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{}` took over {COMMAND_LIMIT:?}", argv.join(" ")));
            }
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{}` failed ({status}): {}{}",
            argv.join(" "),
            err.trim(),
            if err.contains("Operation not permitted") || err.contains("Permission denied") {
                " (the fault tests need root)"
            } else {
                ""
            }
        ))
    }
}
