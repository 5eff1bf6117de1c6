"""Gateway: one interpreter driven by the execdeck engine."""

import ast
import builtins
import inspect
import linecache
import textwrap
import threading
import types
import weakref

from .channel import Channel
from .execmodel import get_execmodel

# how long a worker asked to exit() may take before it is killed
EXIT_GRACE = 30.0


class RInfo:
    """Attributes from a dict (the remote interpreter's facts, or its status)."""

    def __init__(self, kwargs):
        self.__dict__.update(kwargs)

    def __repr__(self):
        return "<RInfo %r>" % ", ".join("%s=%s" % kv for kv in sorted(self.__dict__.items()))


RemoteStatus = RInfo

rinfo_source = """
import sys, os
channel.send(dict(
    executable=sys.executable,
    version_info=tuple(sys.version_info[:5]),
    platform=sys.platform,
    cwd=os.getcwd(),
    pid=os.getpid(),
))
"""


class Gateway:
    """A running interpreter: local (popen), over ssh, a socket, or through another
    gateway (`via=`)."""

    def __init__(self, rgw, spec, group):
        self._rgw = rgw
        self.spec = spec
        self.id = rgw.id
        self._group = group
        self.execmodel = group.execmodel
        self.remote_execmodel = get_execmodel(spec.execmodel or "thread")
        self._channels = weakref.WeakValueDictionary()
        self._chan_lock = threading.Lock()
        self._cb_lock = threading.Lock()
        self._callbacks = None
        self._watched = {}
        rgw.set_channel_factory(self._channel_for_id)

    def __repr__(self):
        state = "receive-live" if self.hasreceiver() else "not-receiving"
        return "<Gateway id=%r %s, %s model, %d active channels>" % (
            self.id,
            state,
            self.execmodel.backend,
            len(self._channels),
        )

    # -- channels
    def _channel_for_id(self, cid):
        with self._chan_lock:
            ch = self._channels.get(cid)
            if ch is None:
                ch = self._channels[cid] = Channel(self, self._rgw.channel(cid))
            return ch

    def _wrap(self, rc):
        ch = Channel(self, rc)
        with self._chan_lock:
            self._channels[ch.id] = ch
        return ch

    def newchannel(self):
        """A new channel; pass it to remote code inside an item to connect it."""
        return self._wrap(self._rgw.new_channel())

    def _watch(self, ch):
        """Routes the channel's items to its callback, in this gateway's dispatcher."""
        with self._cb_lock:
            if self._callbacks is None:
                self._callbacks = self._rgw.callbacks()
                t = threading.Thread(
                    target=_dispatch, args=(weakref.ref(self), self._callbacks, self._watched),
                    name="execdeck-callbacks-%s" % self.id, daemon=True,
                )
                t.start()
            self._watched[ch.id] = ch
            self._callbacks.watch(ch._rc)

    # -- execution
    def remote_exec(self, source, **kwargs):
        """Runs `source` in the worker and returns a channel connected to it. `source`
        is a string (run with `channel` in its globals), a module (its source), or a
        function whose first parameter is `channel` (called with `**kwargs`)."""
        call_name = file_name = None
        if isinstance(source, types.ModuleType):
            file_name = inspect.getsourcefile(source)
            linecache.updatecache(file_name)
            source = inspect.getsource(source)
        elif isinstance(source, types.FunctionType):
            call_name = source.__name__
            file_name = inspect.getsourcefile(source)
            source = _function_source(source)
        else:
            source = textwrap.dedent(str(source))
        if kwargs and not call_name:
            raise TypeError("can't pass kwargs to non-function remote_exec")
        return self._wrap(self._rgw.remote_exec(source, file_name, call_name, kwargs))

    def remote_status(self):
        """The worker's status: numchannels, numexecuting, execmodel."""
        return RInfo(self._rgw.status())

    def _rinfo(self, update=False):
        """Facts of the remote interpreter (executable, version_info, platform, cwd, pid)."""
        if update or not hasattr(self, "_cache_rinfo"):
            ch = self.remote_exec(rinfo_source)
            try:
                info = ch.receive()
            finally:
                ch.waitclose()
            info["version_info"] = tuple(info["version_info"])
            self._cache_rinfo = RInfo(info)
        return self._cache_rinfo

    def reconfigure(self, py2str_as_py3str=True, py3str_as_py2str=False):
        """String coercion for channels created from now on, both sides."""
        self._rgw.reconfigure(py2str_as_py3str, py3str_as_py2str)

    def hasreceiver(self):
        """True while the connection to the worker is up."""
        return self._rgw.alive()

    def remote_init_threads(self, num=None):
        """Kept for old callers; it does nothing (as in execnet since 1.2)."""

    # -- ending
    def exit(self):
        """Asks the worker to stop, without waiting; `Group.terminate` waits (and kills
        what did not stop)."""
        group = self._group
        if self not in group:
            return
        group._unregister(self)
        self._rgw.exit(EXIT_GRACE)

    def join(self, timeout=None):
        """Waits until the worker is gone (it was asked to stop by exit())."""
        self._rgw.terminate(EXIT_GRACE if timeout is None else timeout)


def _dispatch(gw_ref, callbacks, watched):
    """The callback thread of one gateway: runs callbacks one at a time, in arrival
    order, as execnet's receiver thread does."""
    while True:
        ev = callbacks.next(0.5)
        if ev is None:
            gw = gw_ref()
            if gw is None or (not watched and not gw.hasreceiver()):
                return
            del gw
            continue
        cid, is_item, payload = ev
        ch = watched.get(cid)
        if ch is None:
            continue
        if is_item:
            ch._deliver(payload)
        else:
            watched.pop(cid, None)
            try:
                ch._deliver_end()
            except Exception:
                pass


def _function_source(function):
    """The source of a function to run remotely, checked as execnet checks it: first
    parameter `channel`, no closure, no globals other than builtins; line numbers
    stay those of the file."""
    if function.__name__ == "<lambda>":
        raise ValueError("can't evaluate lambda functions'")
    params = inspect.getfullargspec(function).args
    if not params or params[0] != "channel":
        raise ValueError("expected first function argument to be `channel`")
    if function.__closure__ is not None:
        raise ValueError("functions with closures can't be passed")
    try:
        source = inspect.getsource(function)
    except OSError as e:
        raise ValueError("can't find source file for %s" % function) from e
    source = textwrap.dedent(source)
    code = function.__code__
    local_names = set(code.co_varnames)
    foreign = [
        node.id
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Name) and node.id not in local_names and node.id not in builtins.__dict__
    ]
    if foreign:
        raise ValueError("the use of non-builtin globals isn't supported", foreign)
    return "\n" * (code.co_firstlineno - 1) + source
