//! A thousand short-lived children in a row, each with its three pipes
//! (the last hundred on a pseudo-terminal instead):
//! afterwards this process holds exactly the descriptors it held before,
//! and has no zombie child. Alone in its test binary, so that no other
//! test opens descriptors or starts children meanwhile.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use gyre::Reactor;
use gyre::process::{ExitReason, ProcessOptions, ProcessProtocol, ProcessTransport};

const CHILDREN: usize = 1000;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Children of this process that are zombies (state `Z`, parent us).
fn zombies() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces; split after it.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me {
            found.push(stat);
        }
    }
    found
}

struct Short {
    reactor: Reactor,
    left: Rc<Cell<usize>>,
    clean: Rc<Cell<usize>>,
}

impl ProcessProtocol for Short {
    fn connection_made(&mut self, t: &ProcessTransport) {
        t.write(b"x");
    }
    fn process_ended(&mut self, reason: ExitReason) {
        if reason.is_clean() {
            self.clean.set(self.clean.get() + 1);
        }
        spawn_next(&self.reactor, &self.left, &self.clean);
    }
}

fn spawn_next(reactor: &Reactor, left: &Rc<Cell<usize>>, clean: &Rc<Cell<usize>>) {
    if left.get() == 0 {
        let _ = reactor.stop();
        return;
    }
    left.set(left.get() - 1);
    let protocol = Short {
        reactor: reactor.clone(),
        left: left.clone(),
        clean: clean.clone(),
    };
    // The last hundred on a pseudo-terminal each.
    let options = ProcessOptions::new().use_pty(left.get() < 100);
    reactor
        .spawn_process_with(protocol, "/bin/true", ["true"], options)
        .expect("spawn");
}

#[test]
fn a_thousand_children_leave_no_descriptor_and_no_zombie() {
    util::capture_logs();
    let before = open_descriptors();
    let reactor = Reactor::new().unwrap();
    let left = Rc::new(Cell::new(CHILDREN));
    let clean = Rc::new(Cell::new(0));
    let (r, l, c) = (reactor.clone(), left.clone(), clean.clone());
    reactor.call_when_running(move || spawn_next(&r, &l, &c));
    util::run_for(&reactor, Duration::from_secs(120));
    assert_eq!(clean.get(), CHILDREN, "children that ended cleanly");
    drop(reactor);
    assert_eq!(zombies(), Vec::<String>::new(), "zombie children");
    assert_eq!(
        open_descriptors(),
        before,
        "descriptors open before and after"
    );
}
