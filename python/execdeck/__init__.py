"""execdeck for Python: execnet's API on the execdeck engine (Rust).

    import execdeck
    gw = execdeck.makegateway("popen//python=python3.13")
    ch = gw.remote_exec("channel.send(channel.receive() * 2)")
    ch.send(21)
    assert ch.receive() == 42
"""

import atexit

from . import _execdeck

# registered before any group's cleanup, so it runs after them (atexit is LIFO)
atexit.register(_execdeck._shutdown)
from ._errors import DataFormatError, DumpError, HostNotFound, LoadError, RemoteError, TimeoutError
from .channel import Channel
from .gateway import Gateway
from .multi import Group, MultiChannel, default_group, makegateway, set_execmodel
from .rsync import RSync
from .xspec import XSpec

__version__ = "0.1.0"
# the execnet release whose API this follows
execnet_version = "2.1.2"


def dumps(obj):
    """Serializes builtin values (None, bool, int, float, complex, str, bytes, tuple,
    list, dict, set, frozenset) to execnet's format."""
    return _execdeck.dumps(obj)


def loads(data, py2str_as_py3str=False, py3str_as_py2str=False):
    """The object `dumps` (here or in execnet) serialized."""
    return _execdeck.loads(bytes(data), py2str_as_py3str, py3str_as_py2str)


def dump(byteio, obj):
    """Writes `dumps(obj)` to a binary file."""
    byteio.write(dumps(obj))


def load(io, py2str_as_py3str=False, py3str_as_py2str=False):
    """Reads one serialized object: the rest of the file must be exactly one."""
    return loads(io.read(), py2str_as_py3str, py3str_as_py2str)


__all__ = [
    "Channel", "DataFormatError", "DumpError", "Gateway", "Group", "HostNotFound",
    "LoadError", "MultiChannel", "RSync", "RemoteError", "TimeoutError", "XSpec",
    "__version__", "default_group", "dump", "dumps", "load", "loads", "makegateway",
    "set_execmodel",
]
