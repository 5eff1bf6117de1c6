"""XSpec: a gateway specification, `key=value` items joined by `//`."""


class XSpec:
    """A parsed spec string. Each `key=value` item becomes an attribute (a bare `key`
    is `True`); `env:NAME=VALUE` items go into the `env` dict. Unset keys read as
    None."""

    chdir = None
    dont_write_bytecode = None
    execmodel = None
    id = None
    installvia = None
    nice = None
    popen = None
    python = None
    socket = None
    ssh = None
    ssh_config = None
    vagrant_ssh = None
    via = None

    def __init__(self, string):
        self._spec = string
        self.env = {}
        for item in string.split("//"):
            key, sep, value = item.partition("=")
            if not sep:
                value = True
            if key.startswith("_"):
                raise AttributeError("%r not a valid XSpec key" % key)
            if key in self.__dict__:
                raise ValueError("duplicate key: %r in %r" % (key, string))
            if key.startswith("env:"):
                self.env[key[len("env:"):]] = value
            else:
                setattr(self, key, value)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __repr__(self):
        return "<XSpec %r>" % (self._spec,)

    def __str__(self):
        return self._spec

    def __hash__(self):
        return hash(self._spec)

    def __eq__(self, other):
        return self._spec == getattr(other, "_spec", None)

    def __ne__(self, other):
        return not self == other

    def _samefilesystem(self):
        return self.popen is not None and self.chdir is None
