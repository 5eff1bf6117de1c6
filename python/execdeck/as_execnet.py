"""Run a program with `import execnet` resolving to execdeck:

    python -m execdeck.as_execnet -m pytest -n 4 …
    python -m execdeck.as_execnet pytest -n 4 …      (a console script on PATH)
    python -m execdeck.as_execnet script.py args…

EXECDECK_AS_EXECNET=1 is set for the program and its child interpreters (with the
.pth hook of this venv they switch too)."""

import os
import runpy
import shutil
import sys


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    os.environ["EXECDECK_AS_EXECNET"] = "1"
    from . import _switch

    _switch.install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print("as_execnet: -m needs a module name", file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    target = argv[0]
    path = target if os.path.exists(target) else shutil.which(target)
    if path is None:
        print("as_execnet: no file or command %r" % target, file=sys.stderr)
        return 2
    sys.argv = [path] + argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
