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
        # runs in the worker's receiver thread; msg is ("interrupt", snippet_id): only
        # that snippet is interrupted, now if it runs, or as soon as it starts
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
