# The task-farm driver, sent with remote_exec (Python 2.7, 3.6-3.13, PyPy, Jython).
#
# Protocol on `channel`:
#   first item: (source, file_name, function_name, control_channel)
#   then: ("ready",) once the source ran, or the channel ends with its traceback
#   each task: (index, argument) -> (index, True, result, seconds)
#                                or (index, False, traceback_text, seconds)
#   the control channel's ("cancel",) stops the loop, interrupting a running task where
#   the interpreter can (the main thread and _thread.interrupt_main); then ("cancelled",)
import sys
import time
import traceback
import threading

try:
    import _thread as _th
except ImportError:  # Python 2
    import thread as _th

_clock = getattr(time, "perf_counter", time.time)


def _farm(channel):
    source, file_name, name, control = channel.receive()
    ns = {"__name__": "__farm__", "__builtins__": __builtins__}
    exec(compile(source, file_name or "<farm>", "exec"), ns)
    if name not in ns or not callable(ns[name]):
        raise NameError("the farm code defines no function %r" % (name,))
    func = ns[name]
    state = {"busy": False, "cancel": False}
    lock = threading.Lock()
    on_main = threading.current_thread().name == "MainThread"
    can_interrupt = on_main and hasattr(_th, "interrupt_main") and not sys.platform.startswith("java")

    def on_control(msg):
        lock.acquire()
        try:
            state["cancel"] = True
            if state["busy"] and can_interrupt:
                state["busy"] = False
                try:
                    # a real SIGINT also wakes a task blocked in sleep or a read
                    import os
                    import signal
                    os.kill(os.getpid(), signal.SIGINT)
                except Exception:
                    _th.interrupt_main()
        finally:
            lock.release()

    control.setcallback(on_control)
    channel.send(("ready",))
    try:
        while not state["cancel"]:
            try:
                item = channel.receive()
            except EOFError:
                break
            if item is None:
                break
            index, arg = item
            if state["cancel"]:
                break
            lock.acquire()
            state["busy"] = True
            lock.release()
            t0 = _clock()
            try:
                try:
                    res = (index, True, func(arg), 0.0)
                finally:
                    lock.acquire()
                    state["busy"] = False
                    lock.release()
            except KeyboardInterrupt:
                if state["cancel"]:
                    break
                res = (index, False, traceback.format_exc(), 0.0)
            except Exception:
                res = (index, False, traceback.format_exc(), 0.0)
            res = res[:3] + (_clock() - t0,)
            try:
                channel.send(res)
            except Exception:
                why = "the result cannot be sent: %s" % (sys.exc_info()[1],)
                try:
                    channel.send((index, False, why, res[3]))
                except Exception:
                    break  # the channel is gone
    except KeyboardInterrupt:
        pass
    if state["cancel"]:
        try:
            # a late interrupt_main lands here, not in the gateway's code
            for _ in range(1000):
                pass
            channel.send(("cancelled",))
        except KeyboardInterrupt:
            channel.send(("cancelled",))


_farm(channel)
