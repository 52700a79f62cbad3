"""Twisted's own sequences, printed for tests/interop_sequences.rs to compare
with gyre's, line by line.

    python twisted_sequences.py rcf|service|looping|systems

Each mode prints one record a line (see the functions below); the Rust test
runs the same scenario on gyre and prints the same records. Floats are
printed with six decimals. Everything runs on a `task.Clock` except
`systems`, which runs a real TCP session on 127.0.0.1 under the legacy
`startLogging` observer (reference 11.1) and prints `[system] text` for the
client side's lines. A 20-second alarm bounds every run.
"""

import signal
import socket
import sys

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, error, protocol, task
from twisted.internet.protocol import Factory, Protocol, ReconnectingClientFactory
from twisted.python import log


def out(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


def seconds(x):
    return "%.6f" % x


# ---------------------------------------------------------------------------
# ReconnectingClientFactory (reference 4.1)


class LogLines:
    """Collects the legacy log lines (the RCF logs through `log.msg`)."""

    def __init__(self):
        self.lines = []
        log.addObserver(self.observe)

    def observe(self, event):
        text = log.textFromEventDict(event)
        if text is not None:
            self.lines.append(text)

    def flush(self):
        for line in self.lines:
            out("log:", line)
        del self.lines[:]


def rcf_connector(clock, factory):
    """A real tcp.Connector to 127.0.0.1:1 that never really connects."""
    from twisted.internet import tcp

    connector = tcp.Connector("127.0.0.1", 1, factory, 30, None, clock)
    connector.connects = 0

    def connect():
        connector.connects += 1

    connector.connect = connect
    return connector


def rcf_fail(name, step, clock, factory, connector, lines):
    """One failed attempt: the wait scheduled (if any) and what was logged."""
    factory.clientConnectionFailed(connector, None)
    calls = clock.getDelayedCalls()
    if calls:
        wait = calls[-1].getTime() - clock.seconds()
        out(name, "step", step, "wait", seconds(wait), "delay", seconds(factory.delay),
            "retries", factory.retries)
    else:
        wait = None
        out(name, "step", step, "no-retry", "delay", seconds(factory.delay),
            "retries", factory.retries)
    lines.flush()
    return wait


def rcf():
    lines = LogLines()

    # Defaults, jitter 0: twelve failures, each retry run when due.
    clock = task.Clock()
    f = ReconnectingClientFactory()
    f.clock, f.jitter = clock, 0
    c = rcf_connector(clock, f)
    for step in range(1, 13):
        clock.advance(rcf_fail("nominal", step, clock, f, c, lines))
    out("nominal connects", c.connects)

    # initialDelay 0.05, maxRetries 3: three retries, then abandon.
    clock = task.Clock()
    f = ReconnectingClientFactory()
    f.clock, f.jitter, f.initialDelay, f.delay, f.maxRetries = clock, 0, 0.05, 0.05, 3
    c = rcf_connector(clock, f)
    for step in range(1, 5):
        wait = rcf_fail("max-retries", step, clock, f, c, lines)
        if wait is not None:
            clock.advance(wait)
    out("max-retries connects", c.connects)

    # initialDelay 0.5: two failures, a connection (resetDelay), its loss,
    # then stopTrying, a failure, and explicit retries.
    clock = task.Clock()
    f = ReconnectingClientFactory()
    f.clock, f.jitter, f.initialDelay, f.delay = clock, 0, 0.5, 0.5
    c = rcf_connector(clock, f)
    clock.advance(rcf_fail("reset", 1, clock, f, c, lines))
    clock.advance(rcf_fail("reset", 2, clock, f, c, lines))
    f.resetDelay()
    out("reset after-reset delay", seconds(f.delay), "retries", f.retries)
    f.clientConnectionLost(c, None)
    wait = clock.getDelayedCalls()[-1].getTime() - clock.seconds()
    out("reset lost wait", seconds(wait), "delay", seconds(f.delay), "retries", f.retries)
    lines.flush()
    f.stopTrying()
    out("reset stopped pending", len(clock.getDelayedCalls()))
    f.clientConnectionFailed(c, None)
    f.retry(c)
    f.retry()
    out("reset stopped pending", len(clock.getDelayedCalls()), "retries", f.retries)
    lines.flush()


# ---------------------------------------------------------------------------
# ClientService and backoffPolicy (reference 4.2)


def service():
    from twisted.logger import formatEvent, globalLogPublisher

    seen = []
    globalLogPublisher.addObserver(
        lambda e: seen.append(formatEvent(e))
        if "Scheduling retry" in (e.get("log_format") or "")
        else None
    )

    class Endpoint:
        def __init__(self):
            self.pending = []

        def connect(self, factory):
            d = defer.Deferred()
            self.pending.append((d, factory))
            return d

        def __repr__(self):
            return "tcp:host=example.test:port=7"

    class Transport:
        def loseConnection(self):
            pass

    def flush():
        for line in seen:
            out("log:", line)
        del seen[:]

    clock = task.Clock()
    endpoint = Endpoint()
    svc = ClientService(
        endpoint,
        Factory.forProtocol(Protocol),
        retryPolicy=backoffPolicy(jitter=lambda: 0),
        clock=clock,
    )
    svc.startService()
    for step in range(1, 13):
        d, _ = endpoint.pending.pop()
        d.errback(error.ConnectionRefusedError())
        wait = clock.getDelayedCalls()[0].getTime() - clock.seconds()
        out("service step", step, "wait", seconds(wait))
        flush()
        clock.advance(wait)
    d, factory = endpoint.pending.pop()
    p = factory.buildProtocol(None)
    p.makeConnection(Transport())
    d.callback(p)
    p.connectionLost(error.ConnectionDone())
    wait = clock.getDelayedCalls()[0].getTime() - clock.seconds()
    out("service lost wait", seconds(wait))
    flush()


# ---------------------------------------------------------------------------
# LoopingCall whose function raises (reference 8.1, 8.2)


def looping():
    clock = task.Clock()
    calls = []

    def f():
        calls.append(clock.seconds())
        if len(calls) == 2:
            raise ValueError("tick failed")

    lc = task.LoopingCall(f)
    lc.clock = clock
    d = lc.start(1.0, now=True)
    outcome = []
    d.addCallbacks(
        lambda _: outcome.append("callback"),
        lambda failure: outcome.append("errback " + str(failure.value)),
    )
    other = []
    clock.callLater(1.0, lambda: other.append(clock.seconds()))
    try:
        clock.advance(1.0)
        out("looping advance returned")
    except Exception as e:
        out("looping advance raised", e)
    out("looping calls", " ".join(seconds(t) for t in calls))
    out("looping other", " ".join(seconds(t) for t in other))
    out("looping running", lc.running)
    out("looping outcome", " ".join(outcome))
    out("looping pending", len(clock.getDelayedCalls()))
    clock.advance(5)
    out("looping calls", " ".join(seconds(t) for t in calls))

    def g():
        raise ValueError("first call failed")

    lc2 = task.LoopingCall(g)
    lc2.clock = clock
    d2 = lc2.start(1.0, now=True)
    outcome2 = []
    d2.addErrback(lambda failure: outcome2.append("errback " + str(failure.value)))
    out("looping now running", lc2.running)
    out("looping now outcome", " ".join(outcome2))
    out("looping now pending", len(clock.getDelayedCalls()))


# ---------------------------------------------------------------------------
# The log system of the client side's lines (reference 1.7.4, 11.1)


def systems():
    from twisted.internet import reactor

    class Server(Protocol):
        def connectionMade(self):
            self.transport.write(b"hello")
            self.transport.loseConnection()

    class ClientProto(Protocol):
        def connectionMade(self):
            log.msg("client connection_made")

        def dataReceived(self, data):
            log.msg("client data_received " + data.decode())

        def connectionLost(self, reason):
            log.msg("client connection_lost")

    class Cli(protocol.ClientFactory):
        def startedConnecting(self, connector):
            log.msg("started_connecting")

        def buildProtocol(self, addr):
            log.msg("build_protocol")
            return ClientProto()

        def clientConnectionLost(self, connector, reason):
            log.msg("client_connection_lost")
            reactor.callLater(0, refused)

    class Retrying(ReconnectingClientFactory):
        initialDelay = delay = 0.05
        jitter = 0
        maxRetries = 1

        def clientConnectionFailed(self, connector, reason):
            log.msg("client_connection_failed")
            ReconnectingClientFactory.clientConnectionFailed(self, connector, reason)
            if self.retries > self.maxRetries:
                reactor.callLater(0, reactor.stop)

    def refused():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        s.close()
        reactor.connectTCP("127.0.0.1", closed, Retrying())

    ours = (
        "started_connecting",
        "build_protocol",
        "client connection_made",
        "client data_received",
        "client connection_lost",
        "client_connection_lost",
        "client_connection_failed",
    )

    def observe(event):
        # The client side's lines, chosen by their text (not their system).
        text = log.textFromEventDict(event)
        if text is None:
            return
        factory = text.startswith(("Starting factory <", "Stopping factory <")) and (
            ".Cli " in text or ".Retrying " in text
        )
        policy = " will retry in " in text or text.startswith("Abandoning ")
        if factory or policy or text.startswith(ours):
            out("[%s] %s" % (event.get("system", "-"), text))

    log.addObserver(observe)
    port = reactor.listenTCP(0, Factory.forProtocol(Server), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, Cli())
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    signal.alarm(20)
    {"rcf": rcf, "service": service, "looping": looping, "systems": systems}[sys.argv[1]]()
