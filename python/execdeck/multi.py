"""Group (gateways with unique ids, terminated together) and MultiChannel."""

import atexit
import queue
import shlex
import sys
import threading

from . import _execdeck
from .channel import NO_ENDMARKER_WANTED
from .execmodel import get_execmodel
from .gateway import Gateway
from .xspec import XSpec

# specs with no python= run the interpreter running this program, as execnet does
_TRANSPORTS = ("popen", "ssh", "socket", "vagrant_ssh")


def _engine_spec(spec, gwid):
    """The spec string handed to the engine: the user's items, with the id and (for
    popen) this interpreter as default python."""
    items = [i for i in str(spec).split("//") if not i.startswith("id=")]
    if spec.socket is True and spec.installvia:
        # the server is started through installvia: its address is not known yet
        items = ["socket=127.0.0.1:0" if i == "socket" else i for i in items]
    items.append("id=%s" % gwid)
    if spec.popen and not spec.python and not spec.via:
        items.append("python=%s" % shlex.quote(sys.executable))
    if spec.execmodel is not None and not any(i.startswith("execmodel=") for i in items):
        items.append("execmodel=%s" % spec.execmodel)
    return "//".join(items)


class Group:
    """Gateways with unique ids (gw0, gw1, … unless a spec says `id=`), terminated
    together; `group[id]`, `id in group`, `len(group)` and iteration work."""

    defaultspec = "popen"

    def __init__(self, xspecs=(), execmodel="thread"):
        self._gateways = []
        self._to_join = []
        self._autoid = 0
        self._lock = threading.RLock()
        self._rgroup = _execdeck.RGroup()
        self.set_execmodel(execmodel)
        for spec in xspecs:
            self.makegateway(spec)
        atexit.register(self._cleanup_atexit)

    @property
    def execmodel(self):
        return self._execmodel

    @property
    def remote_execmodel(self):
        return self._remote_execmodel

    def set_execmodel(self, execmodel, remote_execmodel=None):
        """Sets the models (before any gateway is made): `thread` here, `thread` or
        `main_thread_only` for the workers."""
        if self._gateways:
            raise ValueError("can not set execution models if gateways have been created already")
        if remote_execmodel is None:
            remote_execmodel = execmodel
        self._execmodel = get_execmodel(execmodel)
        self._remote_execmodel = get_execmodel(remote_execmodel)

    def __repr__(self):
        return "<Group %r>" % [gw.id for gw in self._gateways]

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._gateways[key]
        for gw in self._gateways:
            if gw == key or gw.id == key:
                return gw
        raise KeyError(key)

    def __contains__(self, key):
        try:
            self[key]
            return True
        except KeyError:
            return False

    def __len__(self):
        return len(self._gateways)

    def __iter__(self):
        return iter(list(self._gateways))

    def makegateway(self, spec=None):
        """Starts a gateway and returns it once its worker answers. Raises
        HostNotFound if the interpreter cannot be started or reached."""
        if not spec:
            spec = self.defaultspec
        if not isinstance(spec, XSpec):
            spec = XSpec(spec)
        if not spec.execmodel:
            spec.execmodel = self.remote_execmodel.backend
        with self._lock:
            self.allocate_id(spec)
            if spec.via and spec.via not in self:
                raise ValueError("via=%s: no gateway of that id in the group" % spec.via)
        rgw = self._rgroup.makegateway(_engine_spec(spec, spec.id))
        gw = Gateway(rgw, spec, self)
        with self._lock:
            self._gateways.append(gw)
        return gw

    def allocate_id(self, spec):
        """Gives `spec` the next free `gwN` id unless it has one; a taken id is a
        ValueError."""
        with self._lock:
            if spec.id is None:
                while True:
                    gwid = "gw%d" % self._autoid
                    self._autoid += 1
                    if gwid not in self:
                        break
                spec.id = gwid
            if spec.id in self:
                raise ValueError("already have gateway with id %r" % (spec.id,))

    def _unregister(self, gw):
        with self._lock:
            if gw in self._gateways:
                self._gateways.remove(gw)
            self._to_join.append(gw)

    def _cleanup_atexit(self):
        self.terminate(timeout=1.0)

    def terminate(self, timeout=None):
        """Stops every gateway: asked politely, killed after `timeout` seconds, and
        nothing they started survives. Gateways others run through (`via=`) stop last."""
        t = 86400.0 if timeout is None else max(float(timeout), 0.0)
        while True:
            with self._lock:
                members = list(self._gateways)
            if not members:
                break
            carriers = {gw.spec.via for gw in members if gw.spec.via}
            carriers |= {gw.spec.installvia for gw in members if gw.spec.installvia}
            round_ = [gw for gw in members if gw.id not in carriers] or members
            for gw in round_:
                gw.exit()
            self._join(t)
        self._join(t)

    def _join(self, timeout):
        with self._lock:
            gws, self._to_join = self._to_join, []
        if gws:
            self._rgroup.terminate_all([gw._rgw for gw in gws], timeout)

    def remote_exec(self, source, **kwargs):
        """remote_exec on every member; a MultiChannel of their channels."""
        return MultiChannel([gw.remote_exec(source, **kwargs) for gw in self])


class MultiChannel:
    """Several channels used together."""

    def __init__(self, channels):
        self._channels = channels

    def __len__(self):
        return len(self._channels)

    def __iter__(self):
        return iter(self._channels)

    def __getitem__(self, key):
        return self._channels[key]

    def __contains__(self, chan):
        return chan in self._channels

    def send_each(self, item):
        for ch in self._channels:
            ch.send(item)

    def receive_each(self, withchannel=False):
        if withchannel:
            return [(ch, ch.receive()) for ch in self._channels]
        return [ch.receive() for ch in self._channels]

    def make_receive_queue(self, endmarker=NO_ENDMARKER_WANTED):
        """One queue of `(channel, item)` for all channels (and `(channel,
        endmarker)` as each closes, if an endmarker is given)."""
        if getattr(self, "_queue", None) is None:
            q = self._queue = queue.Queue()
            for ch in self._channels:
                def put(item, ch=ch):
                    q.put((ch, item))

                ch.setcallback(put, endmarker)
        return self._queue

    def waitclose(self):
        """Waits for every channel; the first remote error is raised at the end."""
        first = None
        for ch in self._channels:
            try:
                ch.waitclose()
            except ch.RemoteError as e:
                if first is None:
                    first = e
        if first is not None:
            raise first


def safe_terminate(execmodel, timeout, list_of_paired_functions):
    """Runs each (terminate, kill) pair: terminate in a thread, kill if it did not
    finish within `timeout`."""
    threads = []
    for term, kill in list_of_paired_functions:
        t = threading.Thread(target=term, daemon=True)
        t.start()
        threads.append((t, kill))
    for t, kill in threads:
        t.join(timeout)
        if t.is_alive() and kill is not None:
            kill()


default_group = Group()
makegateway = default_group.makegateway
set_execmodel = default_group.set_execmodel
