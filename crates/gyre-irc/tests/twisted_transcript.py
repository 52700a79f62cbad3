"""Runs a transcript script against Twisted's IRCClient and prints what
it wrote and which callbacks it called, in the format of
tests/transcripts.rs (see there). Reads the script on stdin."""
import sys

from twisted.internet import task
from twisted.internet.testing import StringTransport
from twisted.words.protocols import irc

clock = task.Clock()
out = []


def esc(s):
    r = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            r.append("\\\\")
        elif 0x20 <= o < 0x7F:
            r.append(ch)
        elif o < 0x100:
            r.append("\\x%02x" % o)
        else:
            r.append("\\u%04x" % o)
    return "".join(r)


def unesc(s):
    return s.encode("latin-1", "backslashreplace").decode("unicode_escape")


def arg(a):
    if a == "~":
        return None
    if a.startswith("#int:"):
        return int(a[5:])
    return unesc(a)


def fmt(v):
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (list, tuple)):
        return ",".join(fmt(x) for x in v)
    return str(v)


class Client(irc.IRCClient):
    def _createHeartbeat(self):
        hb = task.LoopingCall(self._sendHeartbeat)
        hb.clock = clock
        return hb


def recorder(name):
    def record(self, *args):
        out.append("E " + esc("|".join([name] + [fmt(a) for a in args])))
        if name == "nickChanged":
            self.nickname = args[0]
    return record


for name in [
    "signedOn", "joined", "left", "privmsg", "action", "noticed", "nickChanged",
    "userRenamed", "userJoined", "userLeft", "userQuit", "userKicked", "kickedFrom",
    "topicUpdated", "modeChanged", "receivedMOTD", "yourHost", "created", "myInfo",
    "isupport", "bounce", "luserClient", "luserOp", "luserChannels", "luserMe",
]:
    setattr(Client, name, recorder(name))

client = Client()
transport = StringTransport()


def flush():
    v = transport.value()
    if v:
        out.append("W " + esc(v.decode("latin-1")))
        transport.clear()


for raw in sys.stdin.read().split("\n"):
    if not raw:
        continue
    step = raw.split("\t")
    kind = step[0]
    if kind == "config":
        setattr(client, step[1], arg(step[2]))
    elif kind == "connect":
        client.makeConnection(transport)
    elif kind == "recv":
        client.dataReceived(unesc(step[1]).encode("latin-1"))
    elif kind == "call":
        try:
            getattr(client, step[1])(*[arg(a) for a in step[2:]])
        except ValueError as e:
            out.append("X " + esc(str(e)))
    elif kind == "advance":
        clock.advance(float(step[1]))
    flush()

print("\n".join(out))
