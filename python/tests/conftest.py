import os
import shutil
import subprocess

import pytest


def pyenv_python(version):
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    path = os.path.join(root, "versions", version, "bin", "python")
    return path if os.path.exists(path) else None


INTERPRETERS = {
    "py27": lambda: pyenv_python("2.7.18"),
    "py313": lambda: pyenv_python("3.13.0"),
    "pypy3": lambda: shutil.which("pypy3"),
    "jython": lambda: shutil.which("jython"),
}


@pytest.fixture(params=sorted(INTERPRETERS))
def python(request):
    """An interpreter command for a worker; missing ones skip, or fail under
    EXECDECK_STRICT=1 (CI)."""
    path = INTERPRETERS[request.param]()
    if path is None:
        msg = "interpreter %s not found" % request.param
        if os.environ.get("EXECDECK_STRICT") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture
def group():
    import execdeck

    g = execdeck.Group()
    yield g
    g.terminate(5)
