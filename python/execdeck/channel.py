"""Channel: one bidirectional item stream to remote code, over the engine's channel."""

import threading
import traceback

from ._errors import RemoteError, TimeoutError

NO_ENDMARKER_WANTED = object()


class Channel:
    """A channel to code running in a gateway. Items are Python builtins, copied."""

    RemoteError = RemoteError
    TimeoutError = TimeoutError

    # execnet's receive-loop wakeup interval; kept for code that sets it (unused here)
    _INTERNALWAKEUP = 1000

    def __init__(self, gateway, rc):
        if isinstance(rc, int):
            rc = gateway._rgw.channel(rc)
        self.gateway = gateway
        self._rc = rc
        self.id = rc.id
        self._closed_here = False
        self._callback = None
        self._cb_done = None
        self._cb_failed = False
        self._executing = False

    def __repr__(self):
        return "<Channel id=%d %s>" % (self.id, "closed" if self.isclosed() else "open")

    def __del__(self):
        # as execnet: a channel dropped while open is closed for the peer
        try:
            if not self._closed_here and self._callback is None and self._rc.ending() is None:
                self._rc.close(None)
        except Exception:
            pass

    # -- state
    def isclosed(self):
        """True once the channel is closed (by us or the peer); items may remain."""
        if self._closed_here:
            return True
        ending = self._rc.ending()
        return ending is not None and ending[0] in ("closed", "error", "refused")

    def _getremoteerror(self):
        ending = self._rc.ending()
        if ending is None:
            return None
        kind, text = ending
        if kind in ("error", "refused"):
            return RemoteError(text)
        if kind == "gone":
            return EOFError(text)
        return None

    # -- sending and receiving
    def send(self, item):
        """Sends one item; OSError if the channel is closed."""
        if self.isclosed():
            raise OSError("cannot send to %r" % (self,))
        self._rc.send(item)

    def receive(self, timeout=None):
        """The next item. Raises RemoteError with the remote traceback if the remote
        code failed, EOFError when the channel ended, TimeoutError after `timeout`
        seconds."""
        if self._callback is not None:
            raise OSError("cannot receive(), channel has receiver callback")
        return self._rc.receive(timeout)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self.receive()
        except EOFError:
            raise StopIteration from None

    next = __next__

    def close(self, error=None):
        """Closes our side, with an optional error text the peer's receive raises."""
        if self._executing:
            raise OSError("cannot explicitly close channel within remote_exec")
        if self._closed_here:
            return
        self._closed_here = True
        self._rc.close(None if error is None else str(error))

    def waitclose(self, timeout=None):
        """Waits until the peer closed the channel. Raises the RemoteError if it closed
        with an error, EOFError if the connection ended, TimeoutError after `timeout`."""
        if self._callback is not None:
            # closed means: every item and the end went through the callback
            if not _wait_event(self._cb_done, timeout):
                raise TimeoutError("Timeout after %r seconds" % (timeout,))
            err = self._getremoteerror()
            if isinstance(err, RemoteError):
                raise err
            return
        self._rc.waitclose(timeout)

    def reconfigure(self, py2str_as_py3str=True, py3str_as_py2str=False):
        """Sets how strings of Python 2 / Python 3 decode on this channel."""
        self._rc.reconfigure(py2str_as_py3str, py3str_as_py2str)

    def makefile(self, mode="w", proxyclose=False):
        """A file object over the channel: "w" sends each write, "r" reads items."""
        if mode == "w":
            return ChannelFileWrite(self, proxyclose)
        if mode == "r":
            return ChannelFileRead(self, proxyclose)
        raise ValueError("mode %r not available" % (mode,))

    # -- callbacks
    def setcallback(self, callback, endmarker=NO_ENDMARKER_WANTED):
        """Calls `callback(item)` for every item, the ones already queued first (in
        this thread), later ones in the gateway's dispatcher thread; when the channel
        closes, `callback(endmarker)` if an endmarker is given. `receive()` is not
        allowed afterwards."""
        with self.gateway._cb_lock:
            if self._callback is not None:
                raise OSError("%r has callback already registered" % (self,))
            self._callback = (callback, endmarker)
            self._cb_done = threading.Event()
        while True:
            try:
                item = self._rc.receive(0)
            except TimeoutError:
                break
            except (EOFError, RemoteError):
                self._deliver_end()
                return
            self._deliver(item)
        self.gateway._watch(self)

    def _deliver(self, item):
        if self._cb_failed:
            return
        callback = self._callback[0]
        try:
            callback(item)
        except Exception:
            self._cb_failed = True
            text = traceback.format_exc()
            try:
                self._closed_here = True
                self._rc.close(text)
            except Exception:
                pass

    def _deliver_end(self):
        callback, endmarker = self._callback
        try:
            if endmarker is not NO_ENDMARKER_WANTED:
                callback(endmarker)
        finally:
            self._cb_done.set()


def _wait_event(event, timeout):
    """Event.wait in short slices (Ctrl+C stays responsive)."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
        if left <= 0:
            return event.is_set()
        if event.wait(left):
            return True


class ChannelFile:
    def __init__(self, channel, proxyclose=True):
        self.channel = channel
        self._proxyclose = proxyclose

    def isatty(self):
        return False

    def close(self):
        if self._proxyclose:
            self.channel.close()

    def __repr__(self):
        return "<ChannelFile %d %s>" % (self.channel.id, "closed" if self.channel.isclosed() else "open")


class ChannelFileWrite(ChannelFile):
    """Each write is sent as one item."""

    def write(self, out):
        self.channel.send(out)

    def flush(self):
        pass


class ChannelFileRead(ChannelFile):
    """Reads the channel's string items as one stream of text."""

    def __init__(self, channel, proxyclose=True):
        super().__init__(channel, proxyclose)
        self._buffer = None

    def read(self, n):
        try:
            if self._buffer is None:
                self._buffer = self.channel.receive()
            while len(self._buffer) < n:
                self._buffer += self.channel.receive()
        except EOFError:
            self.close()
        if self._buffer is None:
            return ""
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def readline(self):
        if self._buffer is not None:
            i = self._buffer.find("\n")
            if i != -1:
                return self.read(i + 1)
            line = self.read(len(self._buffer) + 1)
        else:
            line = self.read(1)
        while line and not line.endswith("\n"):
            c = self.read(1)
            if not c:
                break
            line += c
        return line
