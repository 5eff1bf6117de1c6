# execdeck console: a REPL that runs as a remote_exec task on the worker.
#
# Items on its channel, master -> console:
#   first item: a control channel (interrupt requests arrive there as "interrupt")
#   ("run", snippet_id, code)
# console -> master:
#   ("hello", {"interrupt": "in-band" | "signal" | "none", "thread": "main" | "other"})
#   ("out" | "err", snippet_id, text)     writes to sys.stdout / sys.stderr while it runs
#   ("result", snippet_id, repr_text)     the value of a final expression, as the REPL
#   ("error", snippet_id, traceback_text)
#   ("done", snippet_id, seconds)
# On the control channel, master -> console (answered from the receiver thread, so they
# work while a snippet runs; nothing runs but name and attribute lookups):
#   ("complete", request_id, text)  ->  ("completions", request_id, [candidates])
#   ("inspect", request_id, text)   ->  ("inspected", request_id, text)
# The namespace persists between snippets. Same source for Python 2.7-3.13, PyPy, Jython.
import sys
import time

try:
    import _thread as _th
except ImportError:
    import thread as _th

try:
    _text = unicode  # noqa: F821
except NameError:
    _text = str


class _ConsoleWriter(object):
    """Sends writes made by the console's thread during a snippet; others pass through."""

    def __init__(self, console, stream, orig):
        self._console = console
        self._stream = stream
        self._orig = orig
        self._buf = []
        self._size = 0

    def write(self, s):
        c = self._console
        if c.current is None or _th.get_ident() != c.thread:
            return self._orig.write(s)
        if not isinstance(s, (_text, bytes)):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        s = _as_text(s)
        if s:
            # line buffered, like a terminal: one item per line, not per write
            self._buf.append(s)
            self._size += len(s)
            if "\n" in s or self._size > 8192:
                self._send()
        return len(s)

    def _send(self):
        if not self._buf:
            return
        s = "".join(self._buf)
        self._buf = []
        self._size = 0
        try:
            s.encode("utf-8")
        except UnicodeError:
            s = s.encode("utf-8", "replace").decode("utf-8")
        self._console.channel.send((self._stream, self._console.current, s))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        c = self._console
        if c.current is not None and _th.get_ident() == c.thread:
            self._send()
            return
        try:
            self._orig.flush()
        except Exception:
            pass

    def isatty(self):
        return False

    def __getattr__(self, name):
        return getattr(self._orig, name)


class _Console(object):
    def __init__(self, channel):
        self.channel = channel
        self.thread = _th.get_ident()
        self.current = None
        self.pending_interrupt = None
        self.last_done = 0
        self.writers = ()
        self.ns = {"__name__": "__console__", "__builtins__": __builtins__}
        self.on_main = False
        try:
            import threading
            if hasattr(threading, "main_thread"):
                self.on_main = threading.current_thread() is threading.main_thread()
            else:  # Python 2
                self.on_main = isinstance(threading.current_thread(), threading._MainThread)
        except Exception:
            self.on_main = False
        java = sys.platform.startswith("java")
        if java:
            self.interrupt_mode = "none"
        elif self.on_main and hasattr(_th, "interrupt_main"):
            self.interrupt_mode = "in-band"
        else:
            self.interrupt_mode = "signal" if self.on_main else "none"

    def on_control(self, msg):
        # runs in the worker's receiver thread
        if isinstance(msg, tuple) and len(msg) == 3 and msg[0] in ("complete", "inspect"):
            try:
                if msg[0] == "complete":
                    answer = ("completions", msg[1], _complete(self.ns, msg[2]))
                else:
                    answer = ("inspected", msg[1], _inspect(self.ns, msg[2]))
            except Exception:
                answer = ("completions", msg[1], []) if msg[0] == "complete" else \
                    ("inspected", msg[1], _text(""))
            self.channel.send(answer)
            return
        # ("interrupt", snippet_id): only that snippet is interrupted, now if it runs,
        # or as soon as it starts
        if self.interrupt_mode != "in-band" or not isinstance(msg, tuple) or len(msg) != 2:
            return
        sid = msg[1]
        if self.current == sid:
            _th.interrupt_main()
        elif sid > self.last_done:
            self.pending_interrupt = sid

    def run(self, sid, code):
        import ast
        self.current = sid
        start = time.time()
        try:
            try:
                if self.pending_interrupt == sid:
                    self.pending_interrupt = None
                    raise KeyboardInterrupt
                tree = compile(code, "<console>", "exec", ast.PyCF_ONLY_AST)
                last = None
                body = list(tree.body)
                if body and isinstance(body[-1], ast.Expr):
                    # (Jython's AST lists cannot pop: rebuild the body instead)
                    last = ast.Expression(body.pop().value)
                    tree.body = body
                exec(compile(tree, "<console>", "exec"), self.ns)
                if last is not None:
                    value = eval(compile(last, "<console>", "eval"), self.ns)
                    if value is not None:
                        self.ns["_"] = value
                        self.channel.send(("result", sid, _as_text(repr(value))))
            except SyntaxError:
                self.channel.send(("error", sid, _format(True)))
            except BaseException:
                self.channel.send(("error", sid, _format(False)))
        finally:
            self._finish(sid, start)

    def _finish(self, sid, start):
        """Flushes output and reports the end; a late KeyboardInterrupt (an interrupt
        that raced with the snippet's end) must not skip the "done"."""
        steps = [w._send for w in self.writers]
        drain = getattr(self.channel.gateway, "_drain_fd", None)
        if drain is not None:
            steps.append(drain)
        for step in steps:
            for _ in range(3):
                try:
                    step()
                    break
                except KeyboardInterrupt:
                    continue
                except Exception:
                    break
        self.current = None
        self.last_done = max(self.last_done, sid)
        if self.pending_interrupt is not None and self.pending_interrupt <= sid:
            self.pending_interrupt = None
        for _ in range(3):
            try:
                self.channel.send(("done", sid, time.time() - start))
                return
            except KeyboardInterrupt:
                continue

    def serve(self):
        control = self.channel.receive()
        control.setcallback(self.on_control)
        self.channel.send(("hello", {"interrupt": _text(self.interrupt_mode),
                                     "thread": _text("main" if self.on_main else "other")}))
        out, err = sys.stdout, sys.stderr
        sys.stdout = _ConsoleWriter(self, "out", out)
        sys.stderr = _ConsoleWriter(self, "err", err)
        self.writers = (sys.stdout, sys.stderr)
        try:
            while True:
                try:
                    msg = self.channel.receive()
                except KeyboardInterrupt:
                    continue  # an interrupt that came between snippets
                except EOFError:
                    return
                if msg[0] == "run":
                    try:
                        self.run(msg[1], msg[2])
                    except KeyboardInterrupt:
                        pass
        finally:
            sys.stdout, sys.stderr = out, err


_MODULES = []


def _modules():
    """Top-level module names (cached): builtins and those on sys.path."""
    if not _MODULES:
        names = set(sys.builtin_module_names)
        try:
            import pkgutil
            for item in pkgutil.iter_modules():
                names.add(item[1])
        except Exception:
            pass
        _MODULES.extend(sorted(names))
    return _MODULES


def _lookup(ns, dotted):
    """The object a dotted name refers to, by name and attribute lookup only."""
    parts = dotted.split(".")
    try:
        import __builtin__ as builtins  # noqa: F401
    except ImportError:
        import builtins
    if parts[0] in ns:
        obj = ns[parts[0]]
    elif hasattr(builtins, parts[0]):
        obj = getattr(builtins, parts[0])
    else:
        raise NameError(parts[0])
    for p in parts[1:]:
        obj = getattr(obj, p)
    return obj


def _complete(ns, text):
    """Candidates for the end of `text` (the line before the cursor), like rlcompleter:
    module names after import, dict keys after name[', attributes after a dot, names."""
    import re
    import keyword
    text = _as_text(text)
    m = re.search(r"^\s*(?:import\s+(?:[\w.]+\s*,\s*)*|from\s+)([\w]*)$", text)
    if m:
        word = m.group(1)
        return [_text(n) for n in _modules() if n.startswith(word)][:500]
    m = re.search(r"([A-Za-z_][\w.]*)\[(['\"])([^'\"]*)$", text)
    if m:
        obj = _lookup(ns, m.group(1))
        out = []
        for k in list(obj.keys())[:5000]:
            if isinstance(k, (_text, str)) and _as_text(k).startswith(m.group(3)):
                out.append(_as_text(k) + m.group(2) + "]")
        return sorted(out)[:500]
    m = re.search(r"([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\.(\w*)$", text)
    if m:
        obj = _lookup(ns, m.group(1))
        word = m.group(2)
        names = set(dir(obj))
        cls = getattr(obj, "__class__", None)
        if cls is not None:
            names.update(dir(cls))
        hide = not word.startswith("_")
        return sorted(_text(n) for n in names
                      if n.startswith(word) and not (hide and n.startswith("_")))[:500]
    m = re.search(r"([A-Za-z_]\w*)$", text)
    if not m:
        return []
    word = m.group(1)
    try:
        import __builtin__ as builtins
    except ImportError:
        import builtins
    names = set(keyword.kwlist) | set(ns) | set(dir(builtins))
    hide = not word.startswith("_")
    return sorted(_text(n) for n in names
                  if n.startswith(word) and not (hide and n.startswith("_")))[:500]


def _inspect(ns, text):
    """The signature and the first lines of the docstring of the name at the end of
    `text`."""
    import re
    import inspect
    m = re.search(r"([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\(?$", _as_text(text))
    if not m:
        return _text("")
    name = m.group(1)
    obj = _lookup(ns, name)
    head = name
    try:
        head = name + _text(inspect.signature(obj))
    except Exception:
        try:
            spec = inspect.getargspec(obj)
            head = name + inspect.formatargspec(*spec)
        except Exception:
            head = "%s: %s" % (name, type(obj).__name__)
    doc = inspect.getdoc(obj) or ""
    lines = [head] + _as_text(doc).split("\n")[:8]
    return _text("\n".join(lines))


def _as_text(s):
    """Text for the wire: Python 2 byte strings (tracebacks, reprs) decoded as UTF-8."""
    if isinstance(s, bytes) and not isinstance(s, _text):
        return s.decode("utf-8", "replace")
    return _text(s)


def _format(syntax):
    import traceback
    et, ev, tb = sys.exc_info()
    try:
        if syntax:
            lines = traceback.format_exception_only(et, ev)
        else:
            # drop the frames of this console module
            while tb is not None and tb.tb_frame.f_code.co_filename != "<console>":
                tb = tb.tb_next
            lines = traceback.format_exception(et, ev, tb)
        return _as_text("".join(lines))
    finally:
        et = ev = tb = None


if __name__ == "__channelexec__":
    _Console(channel).serve()  # noqa: F821
