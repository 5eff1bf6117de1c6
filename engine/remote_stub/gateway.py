# execdeck remote stub: the worker side of execnet's wire protocol.
#
# Sent over the pipe at bootstrap; never installed.  One source for CPython 2.7 and
# 3.6+, PyPy and Jython 2.7: no f-strings, no nonlocal, feature detection instead of
# version checks.  The master appends one line that calls _execdeck_serve(...).
#
# Beyond execnet's protocol the stub sends output records as CHANNEL_DATA on
# channel 0 (which no channel uses): (channel_id or None, stream, text), stream being
# "out"/"err" (sys.stdout/sys.stderr) or "fd1" (writes straight to file descriptor 1).
import os
import struct
import sys

try:
    import _thread
except ImportError:
    import thread as _thread  # Python 2 / Jython

try:
    # the C module directly: importing queue would import threading as well
    from _queue import SimpleQueue as _Queue, Empty as _Empty
except ImportError:
    try:
        from queue import Queue as _Queue, Empty as _Empty
    except ImportError:
        from Queue import Queue as _Queue, Empty as _Empty

PY3 = sys.version_info[0] >= 3
if PY3:
    _text = str
    _bytes = bytes
    _ints = (int,)
else:
    _text = unicode  # noqa: F821
    _bytes = str
    _ints = (int, long)  # noqa: F821

_Lock = _thread.allocate_lock
_Local = _thread._local


def _spawn(fn, *args):
    _thread.start_new_thread(fn, args)


if PY3 and hasattr(_thread, "RLock"):
    # Built on _thread alone: importing threading costs milliseconds at start-up.
    _RLock = _thread.RLock

    class _Event(object):
        """A flag threads can wait for; the lock is held while the flag is clear."""

        def __init__(self):
            self._flag = False
            self._cond = _Lock()
            self._cond.acquire()
            self._mutex = _Lock()

        def is_set(self):
            return self._flag

        def set(self):
            self._mutex.acquire()
            try:
                if not self._flag:
                    self._flag = True
                    self._cond.release()
            finally:
                self._mutex.release()

        def clear(self):
            self._mutex.acquire()
            try:
                if self._flag:
                    self._flag = False
                    self._cond.acquire()
            finally:
                self._mutex.release()

        def wait(self, timeout=None):
            if self._flag:
                return True
            if timeout is None:
                got = self._cond.acquire()
            else:
                got = self._cond.acquire(True, max(timeout, 0))
            if got:
                self._cond.release()
            return self._flag
else:
    import threading
    _RLock = threading.RLock
    _Event = threading.Event

_get_ident = _thread.get_ident


class DataFormatError(Exception):
    pass


class DumpError(DataFormatError):
    pass


class LoadError(DataFormatError):
    pass


class RemoteError(Exception):
    def __init__(self, formatted):
        Exception.__init__(self, formatted)
        self.formatted = formatted

    def __str__(self):
        return self.formatted

    def __repr__(self):
        return "RemoteError: %s" % self.formatted


class TimeoutError(IOError):
    pass


# ---------------------------------------------------------------------------
# wire protocol: message codes and serializer opcodes (execnet's names)


class Message(object):
    """Message codes: the first byte of a frame's 9-byte header."""
    STATUS = 0
    RECONFIGURE = 1
    GATEWAY_TERMINATE = 2
    CHANNEL_EXEC = 3
    CHANNEL_DATA = 4
    CHANNEL_CLOSE = 5
    CHANNEL_CLOSE_ERROR = 6
    CHANNEL_LAST_MESSAGE = 7


class opcode(object):
    """Serializer opcodes: a stack machine; int4 = signed 32-bit big-endian."""
    BUILDTUPLE = b"@"   # int4 n: the last n items become a tuple
    BYTES = b"A"        # int4 len + bytes
    CHANNEL = b"B"      # int4 channel id
    FALSE = b"C"
    FLOAT = b"D"        # 8-byte double
    FROZENSET = b"E"    # int4 n
    INT = b"F"          # int4
    LONG = b"G"         # int4 (Python 2 long)
    LONGINT = b"H"      # int4 len + ASCII digits
    LONGLONG = b"I"     # as LONGINT (Python 2)
    NEWDICT = b"J"
    NEWLIST = b"K"      # int4 n: [None] * n, filled by SETITEM
    NONE = b"L"
    PY2STRING = b"M"    # int4 len + bytes (Python 2 str)
    PY3STRING = b"N"    # int4 len + UTF-8
    SET = b"O"          # int4 n
    SETITEM = b"P"      # pops value and key into the container below them
    STOP = b"Q"         # end: exactly one item is left
    TRUE = b"R"
    UNICODE = b"S"      # int4 len + UTF-8 (Python 2 unicode)
    COMPLEX = b"T"      # two doubles


_int4 = struct.Struct("!i")
_float = struct.Struct("!d")
_complex = struct.Struct("!dd")
_header = struct.Struct("!bii")  # message code, channel id, payload length
_pack_int4 = _int4.pack
_unpack_int4 = _int4.unpack_from


def dumps(obj):
    return b"".join(_chunks(obj))


def _chunks(obj):
    out = []
    _dump(obj, out.append)
    out.append(opcode.STOP)
    return out


def _unlimited_digits(convert, x):
    """convert(x) with CPython's int/str digit limit (3.11+) lifted: execdeck's decoder
    has its own, configurable limit, so big ints travel both ways like in execnet."""
    try:
        return convert(x)
    except ValueError:
        get = getattr(sys, "get_int_max_str_digits", None)
        if get is None:
            raise
        old = get()
        sys.set_int_max_str_digits(0)
        try:
            return convert(x)
        finally:
            sys.set_int_max_str_digits(old)


def _dump_int(x, w):
    if -2147483648 <= x <= 2147483647:
        w(opcode.INT + _pack_int4(x))
    else:
        s = _unlimited_digits(str, x).encode("ascii")
        w(opcode.LONGINT + _pack_int4(len(s)) + s)


def _load_long(raw):
    return _unlimited_digits(int, raw)


def _has_lone_surrogate(b):
    """Whether Python 2's UTF-8 bytes hold an encoded lone surrogate (ED A0..BF)."""
    i = b.find(b"\xed")
    while i >= 0:
        if b[i + 1:i + 2] >= b"\xa0":
            return True
        i = b.find(b"\xed", i + 1)
    return False


def _dump(obj, w):
    t = type(obj)
    if t is _text:
        try:
            b = obj.encode("utf-8")
        except UnicodeError:
            raise DumpError("strings must be utf-8 encodable")
        if not PY3 and _has_lone_surrogate(b):
            # Python 2 encodes u"\ud800" as the bytes ED A0 80, which no UTF-8 decoder
            # takes: refuse it here, as Python 3 does, instead of sending it
            raise DumpError("strings must be utf-8 encodable")
        w((opcode.PY3STRING if PY3 else opcode.UNICODE) + _pack_int4(len(b)))
        w(b)
    elif t is _bytes:
        w((opcode.BYTES if PY3 else opcode.PY2STRING) + _pack_int4(len(obj)))
        w(obj)
    elif t is bool:
        w(opcode.TRUE if obj else opcode.FALSE)
    elif t in _ints:
        _dump_int(obj, w)
    elif obj is None:
        w(opcode.NONE)
    elif t is float:
        w(opcode.FLOAT + _float.pack(obj))
    elif t is complex:
        w(opcode.COMPLEX + _complex.pack(obj.real, obj.imag))
    elif t is tuple or t is set or t is frozenset:
        for item in obj:
            _dump(item, w)
        op = opcode.BUILDTUPLE if t is tuple else (opcode.SET if t is set else opcode.FROZENSET)
        w(op + _pack_int4(len(obj)))
    elif t is list:
        w(opcode.NEWLIST + _pack_int4(len(obj)))
        index, setitem = opcode.INT, opcode.SETITEM
        for i, item in enumerate(obj):
            w(index + _pack_int4(i))
            _dump(item, w)
            w(setitem)
    elif t is dict:
        w(opcode.NEWDICT)
        setitem = opcode.SETITEM
        for k, v in obj.items():
            _dump(k, w)
            _dump(v, w)
            w(setitem)
    elif t is Channel:
        w(opcode.CHANNEL + _pack_int4(obj.id))
    elif t.__name__ == "shadowstr" and isinstance(obj, _bytes):
        # Jython's sys.platform, sys.executable, ... are a str subclass
        _dump(_bytes(obj), w)
    else:
        raise DumpError("can't serialize %s" % (t,))


# Loading: one function per opcode, `load(data, pos, stack, gateway) -> next pos`, where
# pos is just past the opcode byte. loads() looks each opcode up in a table; STOP, the
# end of the data and unknown opcodes end its loop.


def _load_int(data, pos, stack, gateway):
    stack.append(_unpack_int4(data, pos)[0])
    return pos + 4


def _load_float(data, pos, stack, gateway):
    stack.append(_float.unpack_from(data, pos)[0])
    return pos + 8


def _load_complex(data, pos, stack, gateway):
    re_, im = _complex.unpack_from(data, pos)
    stack.append(complex(re_, im))
    return pos + 16


def _load_newdict(data, pos, stack, gateway):
    stack.append({})
    return pos


def _load_newlist(data, pos, stack, gateway):
    cnt = _unpack_int4(data, pos)[0]
    if cnt < 0 or cnt > len(data):
        raise LoadError("bad list length")
    stack.append([None] * cnt)
    return pos + 4


def _load_setitem(data, pos, stack, gateway):
    if len(stack) < 3:
        raise LoadError("not enough items for setitem")
    value = stack.pop()
    key = stack.pop()
    stack[-1][key] = value
    return pos


def _load_channel(data, pos, stack, gateway):
    if gateway is None:
        raise LoadError("channel reference outside a gateway")
    stack.append(gateway._channel_for(_unpack_int4(data, pos)[0]))
    return pos + 4


def _loads_constant(value):
    def load(data, pos, stack, gateway):
        stack.append(value)
        return pos
    return load


def _loads_sized(convert):
    """Opcodes followed by int4 len and len bytes, which `convert` turns into the value."""
    def load(data, pos, stack, gateway):
        ln = _unpack_int4(data, pos)[0]
        pos += 4
        raw = data[pos:pos + ln]
        if len(raw) != ln:
            raise LoadError("truncated string")
        stack.append(convert(raw))
        return pos + ln
    return load


def _loads_collection(build):
    """Opcodes followed by int4 n: the last n items on the stack become one."""
    def load(data, pos, stack, gateway):
        cnt = _unpack_int4(data, pos)[0]
        if cnt > len(stack) or cnt < 0:
            raise LoadError("not enough items on the stack")
        if cnt:
            items = stack[-cnt:]
            del stack[-cnt:]
        else:
            items = ()
        stack.append(build(items))
        return pos + 4
    return load


def _utf8(raw):
    return raw.decode("utf-8")


def _latin1(raw):
    return raw.decode("latin-1")


def _load_table(py2str_as_py3str, py3str_as_py2str):
    """The opcode -> load function table for one strconfig."""
    return {
        opcode.BUILDTUPLE: _loads_collection(tuple),
        opcode.BYTES: _loads_sized(_bytes),
        opcode.CHANNEL: _load_channel,
        opcode.FALSE: _loads_constant(False),
        opcode.FLOAT: _load_float,
        opcode.FROZENSET: _loads_collection(frozenset),
        opcode.INT: _load_int,
        opcode.LONG: _load_int,
        opcode.LONGINT: _loads_sized(_load_long),
        opcode.LONGLONG: _loads_sized(_load_long),
        opcode.NEWDICT: _load_newdict,
        opcode.NEWLIST: _load_newlist,
        opcode.NONE: _loads_constant(None),
        opcode.PY2STRING: _loads_sized(_latin1 if PY3 and py2str_as_py3str else _bytes),
        opcode.PY3STRING: _loads_sized(_bytes if py3str_as_py2str else _utf8),
        opcode.SET: _loads_collection(set),
        opcode.SETITEM: _load_setitem,
        opcode.TRUE: _loads_constant(True),
        opcode.UNICODE: _loads_sized(_utf8),
        opcode.COMPLEX: _load_complex,
    }


# one table per strconfig (py2str_as_py3str, py3str_as_py2str)
_LOAD_TABLES = dict(((a, b), _load_table(a, b)) for a in (False, True) for b in (False, True))


def loads(data, gateway=None, strconfig=(True, False)):
    table = _LOAD_TABLES[bool(strconfig[0]), bool(strconfig[1])]
    stack = []
    pos = 0
    while True:
        op = data[pos:pos + 1]
        try:
            load = table[op]
        except KeyError:
            break
        pos = load(data, pos + 1, stack, gateway)
    if op == opcode.STOP:
        if len(stack) != 1:
            raise LoadError("internal unserialization error")
        return stack[0]
    if not op:
        raise LoadError("payload ended without STOP")
    raise LoadError("unknown opcode %r - wire protocol corruption?" % (op,))


# ---------------------------------------------------------------------------
# channels

_ENDMARKER = object()
_NO_ENDMARKER = object()


class Channel(object):
    RemoteError = RemoteError
    TimeoutError = TimeoutError

    def __init__(self, gateway, cid):
        self.gateway = gateway
        self.id = cid
        self._items = _Queue()
        self._closed = False       # we may not send any more
        self._peerclosed = False   # the peer closed the channel (CLOSE / CLOSE_ERROR)
        self._receiveclosed = _Event()  # peer will send no more
        self._remoteerror = None
        self._callback = None
        self._endmarker = _NO_ENDMARKER
        self._executing = False
        self._strconfig = gateway._strconfig

    def __repr__(self):
        return "<Channel id=%d %s>" % (self.id, "closed" if self.isclosed() else "open")

    def isclosed(self):
        return self._closed or self._receiveclosed.is_set()

    def send(self, item):
        if self._closed:
            raise IOError("cannot send to %r" % (self,))
        self.gateway._send_item(self.id, item)

    def receive(self, timeout=None):
        if self._callback is not None:
            raise IOError("calling receive() on channel with receiver callback")
        try:
            if timeout is None:
                x = self._items.get()
            else:
                x = self._items.get(True, timeout)
        except _Empty:
            raise self.TimeoutError("no item after %r seconds" % (timeout,))
        if x is _ENDMARKER:
            self._items.put(x)
            if self._remoteerror is not None:
                raise self._remoteerror
            raise EOFError("channel %d is closed" % self.id)
        return x

    def __iter__(self):
        return self

    def next(self):
        try:
            return self.receive()
        except EOFError:
            raise StopIteration

    __next__ = next

    def setcallback(self, callback, endmarker=_NO_ENDMARKER):
        gw = self.gateway
        gw._recvlock.acquire()
        try:
            self._callback = callback
            self._endmarker = endmarker
            while True:
                try:
                    x = self._items.get(False)
                except _Empty:
                    break
                if x is _ENDMARKER:
                    if endmarker is not _NO_ENDMARKER:
                        callback(endmarker)
                    break
                callback(x)
        finally:
            gw._recvlock.release()

    def close(self, error=None):
        if self._executing:
            raise IOError("cannot explicitly close channel within remote_exec")
        self._close(error)

    def _close(self, error=None):
        if self._closed:
            return
        self._closed = True
        if not self._peerclosed:
            if error is not None:
                self.gateway._send(Message.CHANNEL_CLOSE_ERROR, self.id, dumps(_text(error)))
            else:
                self.gateway._send(Message.CHANNEL_CLOSE, self.id, b"")
        self.gateway._forget(self)

    def waitclose(self, timeout=None):
        self._receiveclosed.wait(timeout)
        if not self._receiveclosed.is_set():
            raise self.TimeoutError("Timeout after %r seconds" % (timeout,))
        if self._remoteerror is not None:
            raise self._remoteerror

    def reconfigure(self, py2str_as_py3str=True, py3str_as_py2str=False):
        self._strconfig = (py2str_as_py3str, py3str_as_py2str)
        self.gateway._send(Message.RECONFIGURE, self.id, dumps(self._strconfig))

    def makefile(self, mode="w", proxyclose=False):
        """A file over the channel: "w" sends each write, "r" reads string items."""
        if mode == "w":
            return _ChannelFileWrite(self, proxyclose)
        if mode == "r":
            return _ChannelFileRead(self, proxyclose)
        raise ValueError("mode %r not available" % (mode,))

    # called by the receiver
    def _deliver(self, item):
        cb = self._callback
        if cb is None:
            self._items.put(item)
        else:
            try:
                cb(item)
            except Exception:
                self._close(_format_exc())

    def _remote_closed(self, error=None, sendonly=False):
        if not sendonly:
            self._closed = True
            self._peerclosed = True
        if not self._receiveclosed.is_set():
            if error is not None:
                self._remoteerror = RemoteError(error)
            self._receiveclosed.set()
            if self._callback is None:
                self._items.put(_ENDMARKER)
            elif self._endmarker is not _NO_ENDMARKER:
                try:
                    self._callback(self._endmarker)
                except Exception:
                    pass
        if not sendonly:
            self.gateway._forget(self)


class _ChannelFile(object):
    def __init__(self, channel, proxyclose):
        self.channel = channel
        self._proxyclose = proxyclose

    def isatty(self):
        return False

    def close(self):
        if self._proxyclose:
            self.channel.close()


class _ChannelFileWrite(_ChannelFile):
    def write(self, data):
        self.channel.send(data)

    def flush(self):
        pass


class _ChannelFileRead(_ChannelFile):
    def __init__(self, channel, proxyclose):
        _ChannelFile.__init__(self, channel, proxyclose)
        self._pending = None

    def read(self, n):
        try:
            if self._pending is None:
                self._pending = self.channel.receive()
            while len(self._pending) < n:
                self._pending += self.channel.receive()
        except EOFError:
            self.close()
        if self._pending is None:
            return ""
        out = self._pending[:n]
        self._pending = self._pending[n:]
        return out

    def readline(self):
        line = ""
        while not line.endswith("\n"):
            c = self.read(1)
            if not c:
                break
            line += c
        return line


def _format_exc(skip=0):
    et, ev, tb = sys.exc_info()
    try:
        import traceback
        for _ in range(skip):
            if tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
        return "".join(traceback.format_exception(et, ev, tb))
    except Exception:
        return "%s: %s" % (getattr(et, "__name__", et), ev)
    finally:
        et = ev = tb = None


def _clean_text(text):
    """Text that UTF-8 can encode: unencodable characters become U+FFFD / '?'."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# ---------------------------------------------------------------------------
# output capture


class _Output(object):
    """Replaces sys.stdout / sys.stderr; writes go to the master tagged by channel."""

    encoding = "utf-8"
    errors = "replace"
    closed = False

    def __init__(self, gateway, stream, fd):
        self._gw = gateway
        self._stream = stream
        self._fd = fd
        self.buffer = _ByteOutput(self)

    def write(self, s):
        if not isinstance(s, _text):
            if isinstance(s, _bytes):
                s = s.decode("utf-8", "replace")
            else:
                raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if s:
            self._gw._output(self._stream, s)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._gw._flush_output(self._stream)

    def isatty(self):
        return False

    def fileno(self):
        if self._fd is None:
            raise IOError("no file descriptor")
        return self._fd

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False


class _ByteOutput(object):
    def __init__(self, text):
        self._text = text

    def write(self, b):
        return self._text.write(_bytes(b).decode("utf-8", "replace"))

    def flush(self):
        self._text.flush()


# ---------------------------------------------------------------------------
# the worker gateway


class _ExecModel(object):
    """What remote code finds as `channel.gateway.execmodel` (execnet's worker API):
    the backend name and thread primitives, imported on first use."""

    def __init__(self, backend):
        self.backend = backend

    def __repr__(self):
        return "<ExecModel %r>" % (self.backend,)

    @property
    def queue(self):
        try:
            import queue
        except ImportError:
            import Queue as queue  # Python 2 / Jython
        return queue

    @property
    def subprocess(self):
        import subprocess
        return subprocess

    @property
    def socket(self):
        import socket
        return socket

    def start(self, func, args=()):
        _spawn(func, *args)

    def get_ident(self):
        return _thread.get_ident()

    def sleep(self, delay):
        import time
        time.sleep(delay)

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        return os.fdopen(fd, mode, bufsize)

    def Lock(self):
        import threading
        return threading.Lock()

    def RLock(self):
        import threading
        return threading.RLock()

    def Event(self):
        import threading
        return threading.Event()


class WorkerGateway(object):
    def __init__(self, read, write, gwid, execmodel):
        self._read = read
        self._write = write
        self.id = gwid
        self.execmodel = _ExecModel(execmodel)
        self._sendlock = _Lock()
        self._recvlock = _RLock()
        self._channels = {}
        self._nextid = 2
        self._strconfig = (True, False)
        self._numexecuting = 0
        self._countlock = _Lock()
        self._local = _Local()
        self._outbuf = {}
        self._outlock = _Lock()
        self._outevent = _Event()
        self._tasks = _Queue()
        self._main_busy = False
        self._main_free = _Event()
        self._main_free.set()
        self._stopping = False

    # -- sending
    def _send(self, code, cid, payload):
        data = _header.pack(code, cid, len(payload)) + payload
        self._sendlock.acquire()
        try:
            self._write(data)
        finally:
            self._sendlock.release()

    def _send_item(self, cid, obj):
        """CHANNEL_DATA with one copy of the payload (large bytes are not re-copied)."""
        chunks = _chunks(obj)
        size = 0
        for c in chunks:
            size += len(c)
        chunks.insert(0, _header.pack(Message.CHANNEL_DATA, cid, size))
        data = b"".join(chunks)
        self._sendlock.acquire()
        try:
            self._write(data)
        finally:
            self._sendlock.release()

    def newchannel(self):
        self._recvlock.acquire()
        try:
            cid = self._nextid
            self._nextid += 2
            ch = self._channels[cid] = Channel(self, cid)
            return ch
        finally:
            self._recvlock.release()

    def _channel_for(self, cid):
        ch = self._channels.get(cid)
        if ch is None:
            ch = self._channels[cid] = Channel(self, cid)
        return ch

    def _forget(self, ch):
        # as execnet: once either side closed it, data for this id is dropped
        self._channels.pop(ch.id, None)

    # -- output
    def _current_channel(self):
        return getattr(self._local, "channel", None)

    def _output(self, stream, text):
        cid = self._current_channel()
        key = (cid, stream)
        self._outlock.acquire()
        try:
            buf = self._outbuf.get(key)
            if buf is None:
                buf = self._outbuf[key] = []
            buf.append(text)
            if "\n" in text or len(buf) > 64:
                del self._outbuf[key]
                # sent under the lock: a concurrent flush cannot overtake it
                self._send_output(cid, stream, "".join(buf))
            else:
                self._outevent.set()
        finally:
            self._outlock.release()

    def _send_output(self, cid, stream, text):
        try:
            payload = dumps((cid, _text(stream), text))
        except DumpError:
            # lone surrogates (e.g. surrogateescape'd file names): replace, never drop
            payload = dumps((cid, _text(stream), _clean_text(text)))
        try:
            self._send(Message.CHANNEL_DATA, 0, payload)
        except Exception:
            pass

    def _flush_output(self, stream=None, cid=_NO_ENDMARKER):
        self._outlock.acquire()
        try:
            keys = [k for k in self._outbuf
                    if (stream is None or k[1] == stream) and (cid is _NO_ENDMARKER or k[0] == cid)]
            for k in keys:
                # sent under the lock, so a task's close never overtakes its output
                self._send_output(k[0], k[1], "".join(self._outbuf.pop(k)))
        finally:
            self._outlock.release()

    def _flusher(self):
        import time
        while True:
            self._outevent.wait()
            time.sleep(0.03)
            self._outevent.clear()
            self._flush_output()

    def _fd_reader(self, fd, stream):
        import codecs
        import select
        self._fdlock = _Lock()
        self._fd = fd
        self._fddecoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                select.select([fd], [], [])
            except (OSError, select.error):
                return
            if not self._drain_fd(block=True):
                return

    def _drain_fd(self, block=False):
        """Forwards what is pending on the captured fd 1; False at EOF."""
        lock = getattr(self, "_fdlock", None)
        if lock is None:
            return True
        import select
        lock.acquire()
        try:
            while True:
                if not block and not select.select([self._fd], [], [], 0)[0]:
                    return True
                try:
                    data = os.read(self._fd, 65536)
                except OSError:
                    return False
                if not data:
                    return False
                text = self._fddecoder.decode(data)
                if text:
                    self._send_output(None, "fd1", text)
                if block:
                    return True
        finally:
            lock.release()

    # -- receiving
    def _readexact(self, n):
        data = self._read(n)
        if len(data) != n:
            if not data:
                raise EOFError("connection closed")
            raise EOFError("expected %d bytes, got %d" % (n, len(data)))
        return data

    def _receiver(self):
        reason = "eof"
        try:
            while True:
                header = self._readexact(9)
                code, cid, ln = _header.unpack(header)
                payload = self._readexact(ln) if ln else b""
                self._recvlock.acquire()
                try:
                    if self._dispatch(code, cid, payload):
                        reason = "terminate"
                        break
                finally:
                    self._recvlock.release()
        except EOFError:
            pass
        except Exception:
            reason = "error"
            try:
                sys.__stderr__.write("execdeck stub: receiver failed:\n" + _format_exc())
            except Exception:
                pass
        self._shutdown(reason)

    def _dispatch(self, code, cid, payload):
        """Handles one message; True when the receiver should stop (GATEWAY_TERMINATE)."""
        handler = self._handlers.get(code)
        if handler is None:
            raise LoadError("unknown message code %d" % code)
        return handler(self, cid, payload)

    def _on_status(self, cid, payload):
        cpu, rss = _self_usage()
        status = {"numchannels": len(self._channels),
                  "numexecuting": self._numexecuting,
                  "execmodel": self.execmodel.backend,
                  "cpu": cpu, "rss": rss}
        self._send(Message.CHANNEL_DATA, cid, dumps(status))
        self._send(Message.CHANNEL_CLOSE, cid, b"")

    def _on_reconfigure(self, cid, payload):
        cfg = loads(payload, self)
        cfg = (bool(cfg[0]), bool(cfg[1]))
        if cid == 0:
            self._strconfig = cfg
        else:
            self._channel_for(cid)._strconfig = cfg

    def _on_terminate(self, cid, payload):
        return True

    def _on_exec(self, cid, payload):
        source, filename, callname, kwargs = loads(payload, self)
        self._schedule(self._channel_for(cid), source, filename, callname, kwargs)

    def _on_data(self, cid, payload):
        ch = self._channels.get(cid)
        if ch is not None:
            ch._deliver(loads(payload, self, ch._strconfig))

    def _on_close(self, cid, payload):
        ch = self._channels.get(cid)
        if ch is not None:
            ch._remote_closed()

    def _on_close_error(self, cid, payload):
        ch = self._channels.get(cid)
        if ch is not None:
            ch._remote_closed(loads(payload, self))

    def _on_last_message(self, cid, payload):
        ch = self._channels.get(cid)
        if ch is not None:
            ch._remote_closed(sendonly=True)

    _handlers = {
        Message.STATUS: _on_status,
        Message.RECONFIGURE: _on_reconfigure,
        Message.GATEWAY_TERMINATE: _on_terminate,
        Message.CHANNEL_EXEC: _on_exec,
        Message.CHANNEL_DATA: _on_data,
        Message.CHANNEL_CLOSE: _on_close,
        Message.CHANNEL_CLOSE_ERROR: _on_close_error,
        Message.CHANNEL_LAST_MESSAGE: _on_last_message,
    }

    # -- execution
    def _schedule(self, ch, source, filename, callname, kwargs):
        task = (ch, source, filename, callname, kwargs)
        if self.execmodel.backend == "main_thread_only":
            if self._main_busy and not self._main_free.wait(1.0):
                ch._close("concurrent remote_exec would cause deadlock for main_thread_only execmodel")
                return
            self._main_busy = True
            self._main_free.clear()
            self._tasks.put(task)
        elif not self._main_busy:
            self._main_busy = True
            self._main_free.clear()
            self._tasks.put(task)
        else:
            _spawn(self._execute, *task)

    def _execute(self, ch, source, filename, callname, kwargs, on_main=False):
        self._countlock.acquire()
        self._numexecuting += 1
        self._countlock.release()
        self._local.channel = ch.id
        ch._executing = True
        error = None
        try:
            try:
                code = compile(source + "\n", filename or "<remote exec>", "exec")
                ns = {"channel": ch, "__name__": "__channelexec__"}
                exec(code, ns)
                if callname:
                    ns[callname](ch, **dict(kwargs or {}))
            except EOFError:
                if not ch._receiveclosed.is_set():
                    error = _format_exc(1)
            except BaseException:
                error = _format_exc(1)
        finally:
            self._local.channel = None
            self._flush_output(cid=ch.id)
            self._drain_fd()
            ch._executing = False
            self._countlock.acquire()
            self._numexecuting -= 1
            self._countlock.release()
            if on_main:
                # free before the close goes out: the master may send the next task
                # the moment it sees the close
                self._main_busy = False
                self._main_free.set()
            if not self._stopping:
                try:
                    ch._close(error)
                except Exception:
                    pass

    def _main_loop(self):
        while True:
            try:
                task = self._tasks.get()
            except KeyboardInterrupt:
                continue
            if task is None:
                return
            try:
                self._execute(*task, on_main=True)
            except KeyboardInterrupt:
                # interrupted inside _execute's cleanup: free the main thread here
                # (otherwise _execute frees it, before the task's close goes out)
                self._main_busy = False
                self._main_free.set()

    # -- shutdown
    def _shutdown(self, reason):
        import time
        self._stopping = True
        for ch in list(self._channels.values()):
            try:
                ch._remote_closed(None, sendonly=True)
            except Exception:
                pass
        deadline = time.time() + (1.0 if reason == "terminate" else 0.5)
        while self._numexecuting and time.time() < deadline:
            time.sleep(0.01)
        if self._numexecuting:
            _interrupt_main()
            deadline = time.time() + 0.3
            while self._numexecuting and time.time() < deadline:
                time.sleep(0.01)
        try:
            self._flush_output()
            self._drain_fd()
        except Exception:
            pass
        _exit_with_group(0 if not self._numexecuting else 1)


def _self_usage():
    """(CPU seconds, RSS bytes) of this process: /proc on Linux, else os.times and
    resource; None where neither is available."""
    cpu = rss = None
    try:
        f = open("/proc/self/stat")
        try:
            st = f.read()
        finally:
            f.close()
        fields = st[st.rindex(")") + 2:].split()
        # Jython has no os.sysconf: Linux's usual values then
        tck = page = None
        if hasattr(os, "sysconf"):
            tck = os.sysconf("SC_CLK_TCK")
            page = os.sysconf("SC_PAGE_SIZE")
        cpu = (int(fields[11]) + int(fields[12])) / float(tck or 100)
        rss = int(fields[21]) * (page or 4096)
    except Exception:
        try:
            t = os.times()
            cpu = t[0] + t[1]
        except Exception:
            pass
        try:
            import resource
            # peak, not current; kilobytes, but bytes on macOS
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if sys.platform != "darwin":
                rss *= 1024
        except Exception:
            pass
    return cpu, rss


def _interrupt_main():
    try:
        import signal
        os.kill(os.getpid(), signal.SIGINT)
    except Exception:
        try:
            _thread.interrupt_main()
        except Exception:
            pass


def _has_children(me):
    """False only when /proc says no thread of ours has a child (cheap check)."""
    try:
        for tid in os.listdir("/proc/%d/task" % me):
            f = open("/proc/%d/task/%s/children" % (me, tid))
            try:
                if f.read().strip():
                    return True
            finally:
                f.close()
        return False
    except Exception:
        return True


def _exit_with_group(code):
    """Kills the processes our code started (our process group), then exits."""
    try:
        me = os.getpid()
        if hasattr(os, "getpgrp") and os.getpgrp() == me and os.path.isdir("/proc") \
                and _has_children(me):
            import signal
            children = []
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) == me:
                    continue
                try:
                    f = open("/proc/%s/stat" % name, "rb")
                    try:
                        stat = f.read().decode("ascii", "replace")
                    finally:
                        f.close()
                    fields = stat[stat.rindex(")") + 2:].split()
                    if int(fields[2]) == me:
                        os.kill(int(name), signal.SIGKILL)
                        if int(fields[1]) == me:
                            children.append(int(name))
                except Exception:
                    pass
            for pid in children:
                try:
                    os.waitpid(pid, 0)
                except Exception:
                    pass
    except Exception:
        pass
    os._exit(code)


def _cloexec(fd):
    """Keeps protocol fds out of the processes user code starts (Python 2 makes
    inheritable fds, and its subprocess does not close them)."""
    try:
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
    except Exception:
        pass


def _capture_fd1():
    """Points fd 0 at /dev/null and fd 1 into a pipe; returns the pipe's read end."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    r, w = os.pipe()
    _cloexec(r)
    os.dup2(w, 1)
    os.close(w)
    return r


def _setup_io():
    """Moves the protocol off fds 0/1 where possible; returns (read, write, has_fd1).
    Under the socket server the protocol runs over `_execdeck_socket` instead."""
    sock = globals().get("_execdeck_socket")
    if sock is not None:
        r = None
        if hasattr(os, "dup2") and hasattr(os, "pipe"):
            r = _capture_fd1()
        read, write = globals()["_execdeck_io"]  # frames checked by socketserver's Sealed
        return read, write, r
    if hasattr(os, "dup2") and hasattr(os, "pipe") and not sys.platform.startswith("java"):
        fd_in = os.dup(0)
        fd_out = os.dup(1)
        _cloexec(fd_in)
        _cloexec(fd_out)
        r = _capture_fd1()
        if os.environ.pop("EXECDECK_FD2_MERGED", None):
            os.dup2(1, 2)  # sudo= merged fd 2 into the protocol stream: into fd 1's pipe
        if PY3:
            import io
            reader = io.open(fd_in, "rb", buffering=65536)
            sys.stdin = io.open(0, "r", closefd=False)
        else:
            reader = os.fdopen(fd_in, "rb", 65536)
            sys.stdin = os.fdopen(os.dup(0), "r")

        def write(data, _w=os.write, _fd=fd_out):
            while data:
                n = _w(_fd, data)
                data = data[n:]
        return reader.read, write, r
    # Jython: no dup/dup2; speak over the original stdio file objects.
    inp = sys.stdin
    out = sys.stdout

    def jwrite(data):
        out.write(data)
        out.flush()
    return inp.read, jwrite, None


def _send_code_for_cache(gw):
    """Offers the master this interpreter's compiled stub, so that later bootstraps of
    the same interpreter can skip compiling it (record ("stubcode", magic, code))."""
    code = globals().get("_execdeck_code")
    if code is None or sys.platform.startswith("java"):
        return  # Jython compiles to JVM classes: nothing marshal can carry
    try:
        import marshal
        try:
            from _frozen_importlib_external import MAGIC_NUMBER as magic
        except ImportError:
            import imp
            magic = imp.get_magic()
        data = marshal.dumps(code)
        gw._send(Message.CHANNEL_DATA, 0, dumps((_text("stubcode"), _bytes(magic), data)))
    except Exception:
        pass


def _fork_quietly():
    """os.fork without Python 3.12's DeprecationWarning about forking a threaded
    process: the watchdog child runs no Python threads and only polls and kills, and
    the warning would land on the master's stderr."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _start_watchdog():
    """Forks a tiny watchdog that needs no GIL of ours: it waits on the link and on a
    pipe whose write end only this worker holds. When the link ends (the master or its
    connection died) it gives the worker 0.5 s, then kills it, every process that
    inherited our EXECDECK_WORKER token (even after setsid()) and our process group.
    Jython has no os.fork: there a shell waits for the end of a pipe from the JVM (see
    _start_shell_watchdog); its own EOF thread (JVM threads need no GIL) ends the JVM."""
    if sys.platform.startswith("java") or not hasattr(os, "fork"):
        _start_shell_watchdog()
        return
    try:
        import select
        import time
        select.poll  # noqa: B018
    except (ImportError, AttributeError):
        return
    sock = globals().get("_execdeck_socket")
    link = sock.fileno() if sock is not None else 0
    worker = os.getpid()
    token = os.environ.get("EXECDECK_WORKER")
    if not token:
        token = "%d.%d" % (worker, int(time.time() * 1000000))
        os.environ["EXECDECK_WORKER"] = token
    try:
        r, w = os.pipe()
        pid = _fork_quietly()
    except OSError:
        return
    if pid == 0:
        try:
            os.close(w)
            _watchdog(r, link, worker, token)
        finally:
            os._exit(0)
    os.close(r)
    _cloexec(w)
    globals()["_execdeck_watchdog"] = (pid, w)


_SHELL_WATCHDOG = (
    'cat >/dev/null 2>&1; '
    'for f in $(grep -lzxF "EXECDECK_WORKER=$1" /proc/[0-9]*/environ 2>/dev/null); do '
    'p=${f#/proc/}; p=${p%/environ}; [ "$p" = "$$" ] || kill -9 "$p" 2>/dev/null; done; '
    '[ -n "$2" ] && kill -9 -- "-$2" 2>/dev/null')


def _start_shell_watchdog():
    """Jython: `sh` reads a pipe whose write end only the JVM holds; at its end (the JVM
    died, e.g. by PR_SET_PDEATHSIG) it kills every process that carries our token and
    our process group. Needs the token from the master (popen) and /proc."""
    token = os.environ.get("EXECDECK_WORKER")
    if not token or not os.path.isdir("/proc"):
        return
    try:
        import subprocess
        group = ""
        if hasattr(os, "getpgrp") and os.getpgrp() == os.getpid():
            group = str(os.getpid())
        proc = subprocess.Popen(["sh", "-c", _SHELL_WATCHDOG, "watchdog", token, group],
                                stdin=subprocess.PIPE)
        globals()["_execdeck_watchdog"] = proc
    except Exception:
        pass


def _read_proc(pid, what):
    f = open("/proc/%d/%s" % (pid, what), "rb")
    try:
        return f.read()
    finally:
        f.close()


def _proc_ppid(pid):
    try:
        stat = _read_proc(pid, "stat").decode("ascii", "replace")
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except Exception:
        return None


def _watchdog(r, link, worker, token):
    import select
    import signal
    import time
    for sig in ("SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"):
        try:
            signal.signal(getattr(signal, sig), signal.SIG_IGN)
        except Exception:
            pass
    lo, hi = min(r, link), max(r, link)
    # an empty range would close everything (close_range(0, -1) in some versions)
    for start, end in ((0, lo), (lo + 1, hi), (hi + 1, 65536)):
        if start < end:
            os.closerange(start, end)
    parent = _proc_ppid(worker)
    p = select.poll()
    p.register(r, select.POLLIN)  # EOF: the worker is gone
    p.register(link, 0)  # POLLHUP/POLLERR: the master or its connection is gone
    link_gone = None
    while True:
        try:
            events = p.poll(100)
        except Exception:
            events = []
        fds = [fd for fd, _ in events]
        if r in fds or os.getppid() != worker:
            break  # the worker died: clear up after it
        if link_gone is None and (link in fds or (parent and _proc_ppid(worker) != parent)):
            link_gone = time.time()
            p.unregister(link)
        if link_gone is not None and time.time() - link_gone > 0.5:
            break  # the worker did not exit by itself (e.g. a loop that holds the GIL)
    _kill_everything(worker, token)


def _kill_everything(worker, token):
    import signal
    import time
    me = os.getpid()
    marker = ("EXECDECK_WORKER=" + token).encode("ascii")
    for attempt in range(3):
        try:
            os.kill(worker, signal.SIGKILL)
        except OSError:
            pass
        for pid in [int(n) for n in os.listdir("/proc") if n.isdigit()]:
            try:
                if pid != me and marker in _read_proc(pid, "environ").split(b"\0"):
                    os.kill(pid, signal.SIGKILL)
            except Exception:
                pass
        time.sleep(0.02)
    if os.getpgrp() == worker:
        os.killpg(worker, signal.SIGKILL)  # the rest of our group, this watchdog last


def _execdeck_serve(gwid, execmodel, offer_code=False):
    _start_watchdog()
    read, write, fd1 = _setup_io()
    gw = WorkerGateway(read, write, gwid, execmodel)
    sys.stdout = _Output(gw, "out", 1 if fd1 is not None else None)
    sys.stderr = _Output(gw, "err", 2 if fd1 is not None else None)
    _spawn(gw._receiver)
    _spawn(gw._flusher)
    if fd1 is not None:
        _spawn(gw._fd_reader, fd1, "fd1")
    # threading must first be imported by the main thread, or threading.main_thread()
    # and current_thread() go wrong for user code that imports it from a task thread
    import threading  # noqa: F401
    getattr(write, "raw", write)(b"1")
    if offer_code:
        _send_code_for_cache(gw)
    gw._main_loop()
