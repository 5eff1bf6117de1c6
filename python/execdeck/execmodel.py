"""Execution models: which concurrency primitives the local side uses (`thread`), and
what a worker is told to use (`thread` or `main_thread_only`)."""

import os
import queue as _queue
import socket as _socket
import subprocess as _subprocess
import threading
import time


class ExecModel:
    """Threads of the standard library, named by `backend`."""

    queue = _queue
    subprocess = _subprocess
    socket = _socket

    def __init__(self, backend):
        self.backend = backend

    def __repr__(self):
        return "<ExecModel %r>" % self.backend

    def start(self, func, args=()):
        t = threading.Thread(target=func, args=args, daemon=True)
        t.start()

    def get_ident(self):
        return threading.get_ident()

    def sleep(self, delay):
        time.sleep(delay)

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        return os.fdopen(fd, mode, bufsize, closefd=closefd)

    def Lock(self):
        return threading.Lock()

    def RLock(self):
        return threading.RLock()

    def Event(self):
        return threading.Event()


_BACKENDS = ("thread", "main_thread_only")


def get_execmodel(backend):
    """The model for a backend name; an ExecModel is returned as is. execdeck runs
    `thread` and `main_thread_only` (eventlet and gevent are not supported)."""
    if isinstance(backend, ExecModel):
        return backend
    if backend not in _BACKENDS:
        raise ValueError("unknown execmodel %r (execdeck supports %s)" % (backend, ", ".join(_BACKENDS)))
    return ExecModel(backend)


class Reply:
    """The result of a function run by WorkerPool.spawn."""

    def __init__(self):
        self._done = threading.Event()
        self._result = None
        self._error = None

    def get(self, timeout=None):
        if not self._done.wait(timeout):
            raise OSError("no result after %r seconds" % (timeout,))
        if self._error is not None:
            raise self._error
        return self._result

    def waitfinish(self, timeout=None):
        if not self._done.wait(timeout):
            raise OSError("not finished after %r seconds" % (timeout,))


class WorkerPool:
    """Runs functions in threads of their own (execnet's helper of the same name)."""

    def __init__(self, execmodel, hasprimary=False):
        self.execmodel = execmodel
        self._running = set()
        self._lock = threading.Lock()

    def active_count(self):
        with self._lock:
            return len(self._running)

    def spawn(self, func, *args, **kwargs):
        reply = Reply()

        def run():
            try:
                reply._result = func(*args, **kwargs)
            except BaseException as e:
                reply._error = e
            finally:
                with self._lock:
                    self._running.discard(reply)
                reply._done.set()

        with self._lock:
            self._running.add(reply)
        threading.Thread(target=run, daemon=True).start()
        return reply

    def waitall(self, timeout=None):
        with self._lock:
            pending = list(self._running)
        deadline = None if timeout is None else time.monotonic() + timeout
        for r in pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not r._done.wait(left):
                return False
        return True
