# The rsync receiver, sent with remote_exec (Python 2.7, 3.6-3.13, PyPy).
#
# Protocol on `channel`:
#   first item: (dest, delete, manifest); manifest: [(path, kind, mode, size, target)]
#     path relative with "/", kind "d" (dir), "f" (file) or "l" (symlink to target)
#   reply: ("have", [(path, sha256_hex)]) for the files already there with that size
#   then: ("file", path, chunk_bytes, last) pieces of each file to write, in order
#         ("end",)
#   reply: ("summary", {"written": n, "bytes": n, "links": n, "deleted": n})
import hashlib
import os
import shutil
import stat


def _rsync(channel):
    dest, delete, manifest = channel.receive()
    dest = os.path.abspath(dest)

    def local(path):
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or "" in parts:
            raise ValueError("refusing the path %r" % (path,))
        return os.path.join(dest, *parts)

    def remove(p):
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)

    if not os.path.isdir(dest):
        os.makedirs(dest)
    have = []
    for path, kind, mode, size, target in manifest:
        p = local(path)
        if kind != "f":
            continue
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == size:
            h = hashlib.sha256()
            f = open(p, "rb")
            try:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            finally:
                f.close()
            have.append((path, h.hexdigest()))
    channel.send(("have", have))
    wanted = {}
    for path, kind, mode, size, target in manifest:
        wanted[local(path)] = (kind, mode, target)
    # directories first (writable while we fill them), links, then the files sent
    links = 0
    for path, kind, mode, size, target in manifest:
        p = local(path)
        if kind == "d":
            if os.path.lexists(p) and (os.path.islink(p) or not os.path.isdir(p)):
                os.unlink(p)
            if not os.path.isdir(p):
                os.makedirs(p)
        elif kind == "l":
            if os.path.islink(p) and os.readlink(p) == target:
                continue
            remove(p)
            os.symlink(target, p)
            links += 1
    written = 0
    nbytes = 0
    out = None
    while True:
        msg = channel.receive()
        if msg[0] == "end":
            break
        _, path, chunk, last = msg
        p = local(path)
        tmp = "%s.execdeck-rsync-%d" % (p, os.getpid())
        if out is None:
            out = open(tmp, "wb")
        out.write(chunk)
        nbytes += len(chunk)
        if last:
            out.close()
            out = None
            if os.path.lexists(p) and (os.path.islink(p) or os.path.isdir(p)):
                remove(p)
            os.rename(tmp, p)
            written += 1
    deleted = 0
    if delete:
        for root, dirs, files in os.walk(dest, topdown=True):
            for name in list(dirs) + files:
                p = os.path.join(root, name)
                if p not in wanted:
                    remove(p)
                    deleted += 1
                    if name in dirs:
                        dirs.remove(name)
    # modes last, deepest first, so a read-only directory did not block its filling
    for path, kind, mode, size, target in sorted(manifest, key=lambda m: -m[0].count("/")):
        if kind != "l":
            os.chmod(local(path), mode)
    channel.send(("summary", {"written": written, "bytes": nbytes, "links": links,
                              "deleted": deleted}))


_rsync(channel)
