"""A real Twisted peer for gyre's interop tests (tests/interop_twisted.rs).

It speaks one of Twisted's own framers from `twisted.protocols.basic`
(`LineReceiver`, `LineOnlyReceiver`, `NetstringReceiver` or
`Int32StringReceiver`) over one TCP connection on loopback, and reports
everything that happens to it as JSON lines on stdout:

    {"event": "connected"}
    {"event": "line", "hex": "<payload as hex>"}          # lineReceived
    {"event": "string", "hex": "<payload as hex>"}        # stringReceived
    {"event": "exceeded", "len": N}                       # lineLengthExceeded
                                                          # (len of its argument)
                                                          # or lengthLimitExceeded
    {"event": "parse_error"}                              # NetstringReceiver gave up
    {"event": "sent", "count": N}                         # the --send script ran out
    {"event": "lost", "reason": "ConnectionDone"}         # connectionLost
    {"event": "connect_failed", "reason": "..."}

Two roles:

    --serve MODE --port 0 [--send FILE]
        listens on 127.0.0.1, prints `PORT <n>` once listening, accepts one
        connection and answers every message with the message reversed
        (sendLine / sendString); stops when that connection is lost.

    --connect MODE --port N --send FILE [--expect K]
        connects to 127.0.0.1:N, plays FILE, logs what comes back; closes the
        connection once K messages arrived; stops when the connection is lost.

MODE is `lines`, `lineonly`, `netstring` or `int32`. FILE holds one directive a line:

    msg <hex>     sendLine / sendString of these bytes (`msg` alone: empty)
    raw <hex>     transport.write of these bytes, no framing added
    gap <ms>      let this many milliseconds pass before the next directive
                  (with TCP_NODELAY on, so the pieces leave as separate segments)
    close         transport.loseConnection()

Exit status: 0 after the connection ended, 1 if it could not be made, 2 if
the 20-second guard had to stop the reactor, 3 on bad arguments.
"""

import argparse
import json
import sys

from twisted.internet import reactor
from twisted.internet.protocol import ClientFactory, Factory
from twisted.logger import globalLogBeginner, textFileLogObserver
from twisted.protocols import basic

GUARD_SECONDS = 20

FRAMERS = {
    "lines": basic.LineReceiver,
    "lineonly": basic.LineOnlyReceiver,
    "netstring": basic.NetstringReceiver,
    "int32": basic.Int32StringReceiver,
}

status = {"code": 0}


def emit(event, **fields):
    record = {"event": event}
    record.update(fields)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def stop(code):
    if status["code"] == 0:
        status["code"] = code
    if reactor.running:
        reactor.stop()


def read_script(path):
    steps = []
    with open(path, encoding="ascii") as f:
        for number, text in enumerate(f, 1):
            words = text.split()
            if not words:
                continue
            op, args = words[0], words[1:]
            if op in ("msg", "raw") and len(args) <= 1:
                steps.append((op, bytes.fromhex(args[0] if args else "")))
            elif op == "gap" and len(args) == 1:
                steps.append((op, int(args[0]) / 1000.0))
            elif op == "close" and not args:
                steps.append((op, None))
            else:
                raise SystemExit(f"{path}:{number}: bad directive {text!r}")
    return steps


def peer_class(mode, answer, script, expect):
    framer = FRAMERS[mode]
    kind = "line" if mode.startswith("line") else "string"

    class Peer(framer):
        received = 0

        def connectionMade(self):
            super().connectionMade()
            self.transport.setTcpNoDelay(True)
            emit("connected")
            self.play(list(script))

        def play(self, steps):
            while steps:
                op, arg = steps.pop(0)
                if op == "gap":
                    reactor.callLater(arg, self.play, steps)
                    return
                if op == "msg":
                    if kind == "line":
                        self.sendLine(arg)
                    else:
                        self.sendString(arg)
                elif op == "raw":
                    self.transport.write(arg)
                elif op == "close":
                    self.transport.loseConnection()
            if script:
                emit("sent", count=sum(1 for op, _ in script if op == "msg"))

        def message(self, payload):
            emit(kind, hex=payload.hex())
            self.received += 1
            if answer:
                if kind == "line":
                    self.sendLine(payload[::-1])
                else:
                    self.sendString(payload[::-1])
            if expect is not None and self.received >= expect:
                self.transport.loseConnection()

        def lineReceived(self, line):
            self.message(line)

        def stringReceived(self, string):
            self.message(string)

        def lineLengthExceeded(self, line):
            emit("exceeded", len=len(line))
            return super().lineLengthExceeded(line)

        def lengthLimitExceeded(self, length):
            emit("exceeded", len=length)
            return super().lengthLimitExceeded(length)

        def _handleParseError(self):
            emit("parse_error")
            return super()._handleParseError()

        def connectionLost(self, reason):
            emit("lost", reason=reason.type.__name__)
            super().connectionLost(reason)
            reactor.callLater(0, stop, 0)

    return Peer


class OneConnection(Factory):
    """Builds the protocol for the first connection only."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.used = False

    def buildProtocol(self, addr):
        if self.used:
            return None
        self.used = True
        return Factory.buildProtocol(self, addr)


class Dialer(ClientFactory):
    def __init__(self, protocol):
        self.protocol = protocol

    def clientConnectionFailed(self, connector, reason):
        emit("connect_failed", reason=str(reason.value))
        stop(1)


def main():
    parser = argparse.ArgumentParser(description="Twisted framer peer for gyre")
    role = parser.add_mutually_exclusive_group(required=True)
    role.add_argument("--serve", choices=sorted(FRAMERS))
    role.add_argument("--connect", choices=sorted(FRAMERS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--send", help="script of messages to send")
    parser.add_argument("--expect", type=int, help="close after this many messages")
    try:
        args = parser.parse_args()
    except SystemExit as exit:
        return 3 if exit.code else 0
    if args.connect and not args.send:
        parser.print_usage(sys.stderr)
        print("--connect needs --send", file=sys.stderr)
        return 3

    # Twisted's own log (unhandled errors, tracebacks) goes to stderr, where
    # the test shows it when something fails.
    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(sys.stderr)], redirectStandardIO=False
    )
    script = read_script(args.send) if args.send else []

    if args.serve:
        protocol = peer_class(args.serve, True, script, args.expect)
        port = reactor.listenTCP(args.port, OneConnection(protocol), interface="127.0.0.1")
        print(f"PORT {port.getHost().port}", flush=True)
    else:
        protocol = peer_class(args.connect, False, script, args.expect)
        reactor.connectTCP("127.0.0.1", args.port, Dialer(protocol), timeout=10)

    def guard():
        print(f"twisted_peer: still running after {GUARD_SECONDS}s, giving up", file=sys.stderr)
        stop(2)

    reactor.callLater(GUARD_SECONDS, guard)
    reactor.run()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
