"""The Twisted peer of the gyre benchmarks: the canonical Echo protocol on
the epoll reactor.

    .venv/bin/python crates/gyre-bench/twisted_echo.py --listen 127.0.0.1:0

Prints ``LISTENING <port>`` on stdout once it accepts connections.
"""

import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import protocol, reactor  # noqa: E402


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def main(argv):
    host, port = "127.0.0.1", 0
    if len(argv) >= 3 and argv[1] == "--listen":
        host, _, port = argv[2].rpartition(":")
        port = int(port)
    factory = protocol.Factory()
    factory.protocol = Echo
    listening = reactor.listenTCP(port, factory, interface=host)
    print("LISTENING", listening.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
