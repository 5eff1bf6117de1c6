"""Codec oracle for tests/interop.rs: execnet's own serializer, driven over stdin/stdout.

One JSON request per line on stdin, one JSON reply per line on stdout:

  {"op": "dump", "expr": E}
      -> {"ok": true, "hex": <dumps_internal(eval(E)) as hex>, "type": T, "repr": R}
      -> {"ok": false, "error": "<ExcType>: <message>"}
  {"op": "load", "expr": E, "hex": H}
      -> {"ok": true, "type": T, "repr": R}   (loads_internal(H) is the same as eval(E))
      -> {"ok": false, "error": "..."}

"The same" is strict: equal types at every level, floats compared by value and
sign (so -0.0 differs from 0.0) with NaN equal to NaN, dict items in the same order.
Only execnet.gateway_base's dumps_internal/loads_internal (no version byte) are used.
"""

import json
import math
import sys

from execnet.gateway_base import dumps_internal, loads_internal


def same_float(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return same_float(a, b)
    if isinstance(a, complex):
        return same_float(a.real, b.real) and same_float(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        ia, ib = list(a.items()), list(b.items())
        return len(ia) == len(ib) and all(
            same(ka, kb) and same(va, vb) for (ka, va), (kb, vb) in zip(ia, ib)
        )
    if isinstance(a, (set, frozenset)):
        if len(a) != len(b):
            return False
        # members must match one to one, type-strictly (1 and True are equal in Python)
        rest = list(b)
        for x in a:
            for i, y in enumerate(rest):
                if same(x, y):
                    del rest[i]
                    break
            else:
                return False
        return True
    return a == b


def describe(exc):
    tp = type(exc)
    name = tp.__qualname__
    if tp.__module__ not in ("builtins", "__main__"):
        name = tp.__module__ + "." + name  # e.g. struct.error
    return "%s: %s" % (name, exc)


def handle(req):
    expected = eval(req["expr"], {"__builtins__": __builtins__})
    if req["op"] == "dump":
        try:
            data = dumps_internal(expected)
        except Exception as exc:
            return {"ok": False, "error": describe(exc)}
        return {
            "ok": True,
            "hex": data.hex(),
            "type": type(expected).__name__,
            "repr": repr(expected),
        }
    if req["op"] == "load":
        try:
            got = loads_internal(bytes.fromhex(req["hex"]))
        except Exception as exc:
            return {"ok": False, "error": "loads_internal failed: " + describe(exc)}
        if not same(got, expected):
            return {
                "ok": False,
                "error": "loaded %s %.300r, expected %s %.300r"
                % (type(got).__name__, got, type(expected).__name__, expected),
            }
        return {"ok": True, "type": type(got).__name__, "repr": repr(got)}
    return {"ok": False, "error": "unknown op %r" % (req["op"],)}


def main():
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as exc:
            reply = {"ok": False, "error": "helper failed: " + describe(exc)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
