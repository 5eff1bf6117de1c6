"""The exceptions execnet's API raises (the native module raises these same classes)."""


class DataFormatError(Exception):
    """Data could not be serialized or deserialized."""


class DumpError(DataFormatError):
    """An object of a type the serializer does not carry."""


class LoadError(DataFormatError):
    """Bytes that are not a valid serialized object."""


class RemoteError(Exception):
    """An exception raised on the other side; `formatted` is its traceback text."""

    def __init__(self, formatted):
        super().__init__()
        self.formatted = formatted

    def __str__(self):
        return self.formatted

    def __repr__(self):
        return "%s: %s" % (self.__class__.__name__, self.formatted)

    def warn(self):
        import os
        import sys

        sys.stderr.write("[%d] Warning: unhandled %r\n" % (os.getpid(), self))


class TimeoutError(IOError):
    """Nothing arrived within the timeout."""


class HostNotFound(Exception):
    """The interpreter could not be started or reached."""
