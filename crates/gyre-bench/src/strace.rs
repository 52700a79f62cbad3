//! Counting a server's system calls with `strace -c -f`, attached to the
//! running process, and reading back strace's summary table.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long attaching to every thread of a server may take.
const ATTACH_LIMIT: Duration = Duration::from_secs(10);

/// System calls counted by strace, by name, with the total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// `(syscall, calls)`, in the order strace printed them (most time first).
    pub calls: Vec<(String, u64)>,
    /// All calls.
    pub total: u64,
}

impl Counts {
    /// Calls of one system call (0 when it was not made).
    pub fn of(&self, name: &str) -> u64 {
        self.calls
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| *c)
    }

    /// Parses the summary strace writes with `-c`:
    ///
    /// ```text
    /// % time     seconds  usecs/call     calls    errors syscall
    /// ------ ----------- ----------- --------- --------- ----------------
    ///  69.33    0.334962          13     24986           sendto
    ///  27.73    0.133998           5     24986         4 recvfrom
    /// ------ ----------- ----------- --------- --------- ----------------
    /// 100.00    0.483145           9     50472         4 total
    /// ```
    pub fn parse(summary: &str) -> Option<Counts> {
        let mut counts = Counts::default();
        let mut saw_total = false;
        for line in summary.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // A row: four numbers, an optional error count, then the name.
            if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
                continue;
            }
            let name = fields[fields.len() - 1];
            let calls: u64 = fields[3].parse().ok()?;
            if name == "total" {
                counts.total = calls;
                saw_total = true;
            } else {
                counts.calls.push((name.to_owned(), calls));
            }
        }
        saw_total.then_some(counts)
    }
}

/// strace attached to a process; [`Tracer::finish`] detaches it and reads
/// its counts.
#[derive(Debug)]
pub struct Tracer {
    child: Child,
    output: PathBuf,
}

impl Tracer {
    /// Attaches `strace -c -f` to `pid` and every thread it has, and waits
    /// until all of them are traced.
    pub fn attach(pid: u32, output: &Path) -> io::Result<Tracer> {
        let _ = fs::remove_file(output);
        let child = Command::new("strace")
            .args(["-c", "-f", "-qq", "-o"])
            .arg(output)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run strace ({e}); it counts the servers' system calls: \
                         install it (apt-get install strace)"
                    ),
                )
            })?;
        let mut tracer = Tracer {
            child,
            output: output.to_owned(),
        };
        let deadline = Instant::now() + ATTACH_LIMIT;
        while !all_traced(pid)? {
            if let Some(status) = tracer.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "strace exited ({status}) before attaching to {pid}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "strace did not attach to every thread of {pid} within {ATTACH_LIMIT:?}"
                )));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(tracer)
    }

    /// Detaches (SIGINT, as a Ctrl-C would) and returns the counts.
    pub fn finish(mut self) -> io::Result<Counts> {
        self.interrupt()?;
        self.child.wait()?;
        let summary = fs::read_to_string(&self.output)?;
        Counts::parse(&summary).ok_or_else(|| {
            io::Error::other(format!(
                "no summary in {}:\n{summary}",
                self.output.display()
            ))
        })
    }
}

impl Tracer {
    /// Sends strace SIGINT, on which it detaches and writes its summary.
    fn interrupt(&self) -> io::Result<()> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32)
            .ok_or_else(|| io::Error::other("strace has no pid"))?;
        Ok(rustix::process::kill_process(
            pid,
            rustix::process::Signal::INT,
        )?)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // Still running (an error path): detach it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.interrupt();
            let _ = self.child.wait();
        }
    }
}

/// True when every thread of `pid` has a tracer (`TracerPid` is not 0).
fn all_traced(pid: u32) -> io::Result<bool> {
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = fs::read_to_string(task?.path().join("status"))?;
        let tracer = status
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .map(str::trim);
        if tracer.is_none_or(|t| t == "0") {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary_table() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 69.33    0.334962          13     24986           sendto
 27.73    0.133998           5     24986         4 recvfrom
  2.94    0.014185          28       500           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.483145           9     50472         4 total
";
        let c = Counts::parse(text).unwrap();
        assert_eq!(c.total, 50472);
        assert_eq!(c.of("recvfrom"), 24986);
        assert_eq!(c.of("epoll_wait"), 500);
        assert_eq!(c.of("accept4"), 0);
        assert_eq!(c.calls.len(), 3);
        assert_eq!(
            Counts::parse("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted"),
            None
        );
    }
}
