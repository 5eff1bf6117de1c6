"""RSync: not built yet in execdeck (see README)."""


class RSync:
    """Placeholder: constructing one says that execdeck has no RSync yet."""

    def __init__(self, sourcedir, callback=None, verbose=True):
        raise NotImplementedError("execdeck has no RSync yet")
