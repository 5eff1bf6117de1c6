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
