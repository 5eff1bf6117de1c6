"""The drop-in switch: makes `import execnet` (and its submodules that programs use)
resolve to execdeck, without uninstalling execnet. `install()` is called by
`python -m execdeck.as_execnet …`, and by the `.pth` hook when the environment has
EXECDECK_AS_EXECNET=1 (so child interpreters of this venv switch too)."""

import sys
import types


class _Unsupported:
    """A name of execnet's internals with no meaning on another engine: importing it
    works, using it says so."""

    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("execnet's %s is an execnet internal that execdeck does not have" % self._name)


def _module(name, doc, **attrs):
    mod = types.ModuleType(name, doc)
    mod.__dict__.update(attrs)
    return mod


def _popen_args(spec):
    """The command line of a popen worker: the same bootstrap line execnet uses."""
    import shlex

    args = shlex.split(spec.python) if spec.python else [sys.executable]
    args.append("-u")
    if spec.dont_write_bytecode:
        args.append("-B")
    return args + ["-c", "import sys;exec(eval(sys.stdin.readline()))"]


def modules():
    """The `execnet.*` modules, built from execdeck's."""
    import execdeck
    from execdeck import _errors, channel, execmodel, gateway, multi, rsync, xspec

    common = {k: getattr(_errors, k) for k in ("DataFormatError", "DumpError", "LoadError", "RemoteError", "TimeoutError")}
    base = _module(
        "execnet.gateway_base",
        "execdeck's stand-in for execnet.gateway_base",
        Channel=channel.Channel,
        ChannelFile=channel.ChannelFile,
        ChannelFileRead=channel.ChannelFileRead,
        ChannelFileWrite=channel.ChannelFileWrite,
        NO_ENDMARKER_WANTED=channel.NO_ENDMARKER_WANTED,
        ExecModel=execmodel.ExecModel,
        get_execmodel=execmodel.get_execmodel,
        dumps=execdeck.dumps,
        loads=execdeck.loads,
        dump=execdeck.dump,
        load=execdeck.load,
        dumps_internal=lambda obj: execdeck.dumps(obj)[1:],
        loads_internal=lambda data, channelfactory=None, strconfig=None: execdeck.loads(b"\x02" + data, *(strconfig or (True, False))),
        BaseGateway=gateway.Gateway,
        WorkerPool=execmodel.WorkerPool,
        INTERRUPT_TEXT="keyboard-interrupted",
        MAIN_THREAD_ONLY_DEADLOCK_TEXT="concurrent remote_exec would cause deadlock for main_thread_only execmodel",
        **common,
    )
    mods = {
        "execnet.gateway_base": base,
        "execnet.gateway": _module(
            "execnet.gateway",
            "execdeck's stand-in for execnet.gateway",
            Gateway=gateway.Gateway,
            RInfo=gateway.RInfo,
            RemoteStatus=gateway.RemoteStatus,
            rinfo_source=gateway.rinfo_source,
        ),
        "execnet.multi": _module(
            "execnet.multi",
            "execdeck's stand-in for execnet.multi",
            Group=multi.Group,
            MultiChannel=multi.MultiChannel,
            default_group=multi.default_group,
            makegateway=multi.makegateway,
            set_execmodel=multi.set_execmodel,
            safe_terminate=multi.safe_terminate,
            Gateway=gateway.Gateway,
            XSpec=xspec.XSpec,
            NO_ENDMARKER_WANTED=channel.NO_ENDMARKER_WANTED,
        ),
        "execnet.xspec": _module("execnet.xspec", "execdeck's stand-in", XSpec=xspec.XSpec),
        "execnet.rsync": _module("execnet.rsync", "execdeck's stand-in", RSync=rsync.RSync),
        "execnet.gateway_bootstrap": _module(
            "execnet.gateway_bootstrap", "execdeck's stand-in", HostNotFound=_errors.HostNotFound
        ),
        "execnet.gateway_io": _module(
            "execnet.gateway_io",
            "execdeck's stand-in: execdeck starts workers itself (ssh through libssh2)",
            popen_args=_popen_args,
            popen_bootstrapline="import sys;exec(eval(sys.stdin.readline()))",
            ssh_args=_Unsupported("gateway_io.ssh_args (execdeck's ssh runs no ssh command)"),
            vagrant_ssh_args=_Unsupported("gateway_io.vagrant_ssh_args"),
        ),
    }
    top = _module("execnet", "execdeck, standing in for execnet")
    top.__dict__.update({k: getattr(execdeck, k) for k in execdeck.__all__})
    top.__version__ = execdeck.execnet_version
    top.__path__ = []
    top.__file__ = execdeck.__file__
    top.__execdeck__ = True
    for full, mod in mods.items():
        setattr(top, full.split(".", 1)[1], mod)
    mods["execnet"] = top
    return mods


def install():
    """Puts the stand-ins into sys.modules (replacing an execnet imported before)."""
    sys.modules.update(modules())
