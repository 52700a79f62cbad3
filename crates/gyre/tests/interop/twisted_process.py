"""The process scenarios of tests/process.rs, run on Twisted itself.

Prints one record a line: each ProcessProtocol callback as it happens
(data as repr of the bytes, reasons as the text of their value), so the
Rust side can compare its own sequence with Twisted's.

Modes:
  order   sh -c 'cat; echo E >&2; exit 3', "hello" written, stdin closed at once
  signal  sh -c 'kill -TERM $$'  (the child kills itself)
  early   sh -c 'exit 0'
  pty     sh -c 'read l; echo "got $l"; exit 2' on a pseudo-terminal, "abc\n" written
  fd34    sh -c 'echo out >&3; read x <&4; echo got $x >&3' with childFDs
          {0: "w", 1: "r", 2: "r", 3: "r", 4: "w"}, "hi\n" written to fd 4
          once "out\n" came on fd 3
  fdls    sh -c 'ls /proc/self/fd' with childFDs {0: "w", 1: "r", 2: "r", 3: "r"}
"""
import signal
import sys

from twisted.internet import protocol, reactor

signal.alarm(20)
MODE = sys.argv[1]


class Record(protocol.ProcessProtocol):
    def connectionMade(self):
        print("connection_made")
        if MODE == "order":
            self.transport.write(b"hello")
            self.transport.closeStdin()
        if MODE == "pty":
            self.transport.write(b"abc\n")

    def childDataReceived(self, fd, data):
        if fd < 3:
            return protocol.ProcessProtocol.childDataReceived(self, fd, data)
        print("child_data_received %d %r" % (fd, data))
        if MODE == "fd34" and fd == 3 and data == b"out\n":
            self.transport.writeToChild(4, b"hi\n")

    def childConnectionLost(self, fd):
        if fd < 3:
            return protocol.ProcessProtocol.childConnectionLost(self, fd)
        print("child_connection_lost %d" % (fd,))

    def outReceived(self, data):
        print("out_received %r" % (data,))

    def errReceived(self, data):
        print("err_received %r" % (data,))

    def inConnectionLost(self):
        print("in_connection_lost")

    def outConnectionLost(self):
        print("out_connection_lost")

    def errConnectionLost(self):
        print("err_connection_lost")

    def processExited(self, reason):
        print("process_exited %s" % (reason.value,))

    def processEnded(self, reason):
        print("process_ended %s" % (reason.value,))
        reactor.stop()


SCRIPTS = {
    "order": "cat; echo E >&2; exit 3",
    "signal": "kill -TERM $$",
    "early": "exit 0",
    "pty": 'read l; echo "got $l"; exit 2',
    "fd34": "echo out >&3; read x <&4; echo got $x >&3",
    "fdls": "ls /proc/self/fd",
}
CHILD_FDS = {
    "fd34": {0: "w", 1: "r", 2: "r", 3: "r", 4: "w"},
    "fdls": {0: "w", 1: "r", 2: "r", 3: "r"},
}
reactor.callWhenRunning(
    reactor.spawnProcess,
    Record(),
    "/bin/sh",
    ["sh", "-c", SCRIPTS[MODE]],
    env=None,
    usePTY=(MODE == "pty"),
    childFDs=CHILD_FDS.get(MODE),
)
reactor.run()
