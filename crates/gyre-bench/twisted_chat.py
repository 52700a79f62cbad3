"""The Twisted peer of gyre's chat benchmark: the chat server of Twisted's
tutorial ("Writing Servers", ``chatserver.py``) on the epoll reactor, as the
tutorial writes it (bytes instead of str for Python 3, nothing else).

    .venv/bin/python crates/gyre-bench/twisted_chat.py --listen 127.0.0.1:0

Prints ``LISTENING <port>`` on stdout once it accepts connections.
"""

import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor  # noqa: E402
from twisted.internet.protocol import Factory  # noqa: E402
from twisted.protocols.basic import LineReceiver  # noqa: E402


class Chat(LineReceiver):
    def __init__(self, users):
        self.users = users
        self.name = None
        self.state = "GETNAME"

    def connectionMade(self):
        self.sendLine(b"What's your name?")

    def connectionLost(self, reason):
        if self.name in self.users:
            del self.users[self.name]

    def lineReceived(self, line):
        if self.state == "GETNAME":
            self.handle_GETNAME(line)
        else:
            self.handle_CHAT(line)

    def handle_GETNAME(self, name):
        if name in self.users:
            self.sendLine(b"Name taken, please choose another.")
            return
        self.sendLine(b"Welcome, " + name + b"!")
        self.name = name
        self.users[name] = self
        self.state = "CHAT"

    def handle_CHAT(self, message):
        message = b"<" + self.name + b"> " + message
        for name, protocol in self.users.items():
            if protocol != self:
                protocol.sendLine(message)


class ChatFactory(Factory):
    def __init__(self):
        self.users = {}  # maps user names to Chat instances

    def buildProtocol(self, addr):
        return Chat(self.users)


def main(argv):
    host, port = "127.0.0.1", 0
    if len(argv) >= 3 and argv[1] == "--listen":
        host, _, port = argv[2].rpartition(":")
        port = int(port)
    listening = reactor.listenTCP(port, ChatFactory(), interface=host)
    print("LISTENING", listening.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv)
