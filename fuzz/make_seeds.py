"""Writes the committed seed inputs of the fuzz targets (fuzz/seeds/TARGET/).

Run with a Python that has execnet (the test venv): .venv-test/bin/python fuzz/make_seeds.py
The decoder's seeds are execnet's own encodings, so the fuzzers start from real payloads.
"""
import os
import struct

from execnet.gateway_base import dumps_internal

os.chdir(os.path.dirname(os.path.abspath(__file__)))


def write(target, name, data):
    os.makedirs("seeds/" + target, exist_ok=True)
    with open("seeds/%s/%s" % (target, name), "wb") as f:
        f.write(data)


vals = [None, True, False, 0, -1, 2**31 - 1, 2**40, 2**70, -(2**31), 1.5, -0.0,
        float("inf"), 1 + 2j, b"", b"x\x00\xff", "", "é€😀", (), (1, "a"), [1, [2, [3]]],
        {"a": 1, 2: (3,)}, {1, 2}, frozenset({"x"}), {"k": [None, {"n": frozenset()}]},
        [1.0] * 5]
for i, v in enumerate(vals):
    write("decode", "v%02d" % i, dumps_internal(v))
# Python 2 strs (M) and unicode (S) as a Python 2 worker sends them, keys that merge
py2 = [b"J" + b"M\0\0\0\x01\xe9F\0\0\0\x01P" + b"S\0\0\0\x02\xc3\xa9F\0\0\0\x02P" + b"Q",
       b"M\0\0\0\x01\xe9S\0\0\0\x02\xc3\xa9O\0\0\0\x02Q",
       b"M\0\0\0\x01aM\0\0\0\x01b@\0\0\0\x02Q"]
for i, p in enumerate(py2):
    write("decode", "py2_%d" % i, p)
# decode_channels: a selector byte (strconfig, channel-ref limit), then the payload
chan = [b"B\0\0\0\x03Q", b"B\0\0\0\x03B\0\0\0\x05@\0\0\0\x02Q",
        b"J" + b"N\0\0\0\x01cB\0\0\0\x07P" + b"Q"]
for i, p in enumerate(chan):
    for sel in (0, 0x13, 0xFF):
        write("decode_channels", "c%d_%02x" % (i, sel), bytes([sel]) + p)


def frame(code, ch, payload):
    return struct.pack("!bii", code, ch, len(payload)) + payload


# frame: a selector byte (read size, payload limit), then the stream
streams = [(0, frame(4, 1, dumps_internal(42))),
           (7, frame(0, 0, b"") + frame(1, 3, b"abc") + frame(7, -1, b"")),
           (0x83, frame(2, 1, dumps_internal("x" * 100))),
           (3, frame(4, 1, b"Q")[:6])]
for i, (sel, stream) in enumerate(streams):
    write("frame", "f%d" % i, bytes([sel]) + stream)
lits = ["{'a': (1, 2.5, b'x', None)}", "[1_000, 0x_ff, 0o17, 0b1, 1e-3, 1j, -2-3j]",
        "'\\N{BULLET}\\u20ac\\x41\\101\\n'", "rb'\\777' b'x'", "set()", "frozenset({1, 2})",
        "(1,)", "{1, 2, (3, 4)}", "u'x' 'y'", "float('nan')", "--1", "1__0", "[[[[[]]]]]",
        "f'x'", "'''tri\nple'''", "0.1e+10_0", "True, False, None"]
for i, lit in enumerate(lits):
    write("literal", "l%02d" % i, lit.encode())
