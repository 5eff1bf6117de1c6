#!/usr/bin/env python3
"""Render a tmux `capture-pane -p -e` dump (text with SGR escapes) to a PNG.

    render_ansi.py INPUT.ansi OUTPUT.png [COLS ROWS]

COLS/ROWS are the pane's size (default 130x34). The dump is replayed through
pyte (a VT emulator), then every cell is painted with Pillow: background,
glyph (regular/bold/italic DejaVu Sans Mono), underline, strikethrough, reverse
video. Box-drawing and block characters are drawn as geometry, so borders join
across cells instead of showing the gaps a font glyph leaves. The same input
always gives the same bytes (no timestamps or other metadata are written).

Needs: pip install pyte Pillow (scripts/screenshots.sh makes a venv with both).
"""

import os
import sys

import pyte
import pyte.graphics
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_FILES = {
    (False, False): "DejaVuSansMono.ttf",
    (True, False): "DejaVuSansMono-Bold.ttf",
    (False, True): "DejaVuSansMono-Oblique.ttf",
    (True, True): "DejaVuSansMono-BoldOblique.ttf",
}
FALLBACK_FONT = "DejaVuSans.ttf"  # glyphs the mono face lacks
FONT_SIZE = 16
CELL_W = 10  # the mono face advances 9.64 px at 16 px; glyphs are placed per cell
CELL_H = 20
PAD = 12

DEFAULT_FG = (0xC8, 0xCC, 0xD4)
DEFAULT_BG = (0x15, 0x17, 0x1C)

# A dark palette for the 16 ANSI colours (One Dark-ish). pyte spells colour 3
# "brown", and its aixterm table has the "bfightmagenta" typo.
ANSI_NAMES = [
    "black", "red", "green", "brown", "blue", "magenta", "cyan", "white",
    "brightblack", "brightred", "brightgreen", "brightbrown",
    "brightblue", "brightmagenta", "brightcyan", "brightwhite",
]
PALETTE = {
    "black": (0x28, 0x2C, 0x34),
    "red": (0xE0, 0x6C, 0x75),
    "green": (0x98, 0xC3, 0x79),
    "brown": (0xE5, 0xC0, 0x7B),
    "blue": (0x61, 0xAF, 0xEF),
    "magenta": (0xC6, 0x78, 0xDD),
    "cyan": (0x56, 0xB6, 0xC2),
    "white": (0xAB, 0xB2, 0xBF),
    "brightblack": (0x6B, 0x72, 0x80),
    "brightred": (0xFF, 0x85, 0x8F),
    "brightgreen": (0xB5, 0xE8, 0x90),
    "brightbrown": (0xFF, 0xD6, 0x8A),
    "brightblue": (0x82, 0xC8, 0xFF),
    "brightmagenta": (0xDE, 0x9B, 0xF0),
    "brightcyan": (0x7F, 0xD3, 0xDE),
    "brightwhite": (0xE6, 0xE9, 0xEF),
}
PALETTE["yellow"] = PALETTE["brown"]
PALETTE["brightyellow"] = PALETTE["brightbrown"]
PALETTE["bfightmagenta"] = PALETTE["brightmagenta"]

# `38;5;N` / `48;5;N` with N < 16 should use the palette too, not pyte's xterm
# hex values: give those table entries the names (pyte reads the list per call).
for _i, _name in enumerate(ANSI_NAMES):
    pyte.graphics.FG_BG_256[_i] = _name


def colour(value, default):
    if value in (None, "", "default"):
        return default
    if value in PALETTE:
        return PALETTE[value]
    if len(value) == 6:
        try:
            return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            pass
    return default


# Box drawing, U+2500..U+257F: arms (up, right, down, left), 1 light, 2 heavy,
# 3 double. Dashed lines and diagonals are left to the font.
_BOX_ARMS = {
    0x2500: "0101", 0x2501: "0202", 0x2502: "1010", 0x2503: "2020",
    0x250C: "0110", 0x250D: "0210", 0x250E: "0120", 0x250F: "0220",
    0x2510: "0011", 0x2511: "0012", 0x2512: "0021", 0x2513: "0022",
    0x2514: "1100", 0x2515: "1200", 0x2516: "2100", 0x2517: "2200",
    0x2518: "1001", 0x2519: "1002", 0x251A: "2001", 0x251B: "2002",
    0x251C: "1110", 0x251D: "1210", 0x251E: "2110", 0x251F: "1120",
    0x2520: "2120", 0x2521: "2210", 0x2522: "1220", 0x2523: "2220",
    0x2524: "1011", 0x2525: "1012", 0x2526: "2011", 0x2527: "1021",
    0x2528: "2021", 0x2529: "2012", 0x252A: "1022", 0x252B: "2022",
    0x252C: "0111", 0x252D: "0112", 0x252E: "0211", 0x252F: "0212",
    0x2530: "0121", 0x2531: "0122", 0x2532: "0221", 0x2533: "0222",
    0x2534: "1101", 0x2535: "1102", 0x2536: "1201", 0x2537: "1202",
    0x2538: "2101", 0x2539: "2102", 0x253A: "2201", 0x253B: "2202",
    0x253C: "1111", 0x253D: "1112", 0x253E: "1211", 0x253F: "1212",
    0x2540: "2111", 0x2541: "1121", 0x2542: "2121", 0x2543: "2112",
    0x2544: "2211", 0x2545: "1122", 0x2546: "1221", 0x2547: "2212",
    0x2548: "1222", 0x2549: "2122", 0x254A: "2221", 0x254B: "2222",
    0x2550: "0303", 0x2551: "3030", 0x2552: "0310", 0x2553: "0130",
    0x2554: "0330", 0x2555: "0013", 0x2556: "0031", 0x2557: "0033",
    0x2558: "1300", 0x2559: "3100", 0x255A: "3300", 0x255B: "1003",
    0x255C: "3001", 0x255D: "3003", 0x255E: "1310", 0x255F: "3130",
    0x2560: "3330", 0x2561: "1013", 0x2562: "3031", 0x2563: "3033",
    0x2564: "0313", 0x2565: "0131", 0x2566: "0333", 0x2567: "1303",
    0x2568: "3101", 0x2569: "3303", 0x256A: "1313", 0x256B: "3131",
    0x256C: "3333",
    0x256D: "0110", 0x256E: "0011", 0x256F: "1001", 0x2570: "1100",  # arcs
    0x2574: "0001", 0x2575: "1000", 0x2576: "0100", 0x2577: "0010",
    0x2578: "0002", 0x2579: "2000", 0x257A: "0200", 0x257B: "0020",
    0x257C: "0201", 0x257D: "1020", 0x257E: "0102", 0x257F: "2010",
}
BOX = {chr(k): tuple(int(c) for c in v) for k, v in _BOX_ARMS.items()}
ARCS = {"\u256d", "\u256e", "\u256f", "\u2570"}

LIGHT = max(1, round(CELL_W / 10))
HEAVY = LIGHT * 2 + 1
GAP = LIGHT + 1  # a double line's strokes sit GAP px either side of the centre


def _band(lo, t):
    """Pixel span [a, b] (inclusive) of a stroke t px thick centred on lo."""
    a = lo - t // 2
    return a, a + t - 1


def draw_box(d, x0, y0, ch, fg):
    up, right, down, left = BOX[ch]
    cx = x0 + CELL_W // 2
    cy = y0 + CELL_H // 2
    x1 = x0 + CELL_W - 1
    y1 = y0 + CELL_H - 1

    def reach(opposite, a, b):
        """How far past the centre an arm goes so that it meets the crossing
        strokes (weights a and b on either side); opposite: the arm facing it."""
        w = max(a, b)
        if w == 0:
            return 0
        if w == 3:
            if a and b and not opposite:
                return -GAP + LIGHT // 2  # a T onto a double line: stop at the near stroke
            return GAP + LIGHT // 2
        return (HEAVY if w == 2 else LIGHT) // 2

    if ch in ARCS:
        r = min(CELL_W, CELL_H) // 2
        # (arc box centre offset, start angle) for each corner shape
        sx = 1 if right else -1
        sy = 1 if down else -1
        ox, oy = cx + sx * r, cy + sy * r
        start = {(1, 1): 180, (-1, 1): 270, (-1, -1): 0, (1, -1): 90}[(sx, sy)]
        a, _ = _band(0, LIGHT)
        d.arc([ox - r + a, oy - r + a, ox + r + a, oy + r + a], start, start + 90,
              fill=fg, width=LIGHT)
        hx0, hx1 = (ox, x1) if sx > 0 else (x0, ox)
        vy0, vy1 = (oy, y1) if sy > 0 else (y0, oy)
        b0, b1 = _band(cy, LIGHT)
        if hx1 >= hx0:
            d.rectangle([hx0, b0, hx1, b1], fill=fg)
        b0, b1 = _band(cx, LIGHT)
        if vy1 >= vy0:
            d.rectangle([b0, vy0, b1, vy1], fill=fg)
        return

    # single and heavy strokes
    for w, lo, hi, axis in (
        (up, y0, cy + reach(down, left, right), "v"),
        (down, cy - reach(up, left, right), y1, "v"),
        (left, x0, cx + reach(right, up, down), "h"),
        (right, cx - reach(left, up, down), x1, "h"),
    ):
        if w in (1, 2):
            b0, b1 = _band(cx if axis == "v" else cy, HEAVY if w == 2 else LIGHT)
            if axis == "v":
                d.rectangle([b0, lo, b1, hi], fill=fg)
            else:
                d.rectangle([lo, b0, hi, b1], fill=fg)

    # double strokes: each of the two lines stops where the perpendicular arm
    # on its side begins, or turns the corner when that side has none
    def side_start(near, far):
        if near:
            return GAP if near == 3 else 0
        if far:
            return -GAP if far == 3 else 0
        return 0

    e = LIGHT // 2
    if right == 3 or left == 3:
        for off, near, far in ((-GAP, up, down), (GAP, down, up)):
            b0, b1 = _band(cy + off, LIGHT)
            s = side_start(near, far)
            if right == 3:
                d.rectangle([cx + s - e, b0, x1, b1], fill=fg)
            if left == 3:
                d.rectangle([x0, b0, cx - s + e, b1], fill=fg)
    if up == 3 or down == 3:
        for off, near, far in ((-GAP, left, right), (GAP, right, left)):
            b0, b1 = _band(cx + off, LIGHT)
            s = side_start(near, far)
            if down == 3:
                d.rectangle([b0, cy + s - e, b1, y1], fill=fg)
            if up == 3:
                d.rectangle([b0, y0, b1, cy - s + e], fill=fg)


def _blend(a, b, t):
    return tuple(round(a[i] * t + b[i] * (1 - t)) for i in range(3))


def draw_block(d, x0, y0, ch, fg, bg):
    """Block elements U+2580..U+259F as rectangles; False if not one."""
    o = ord(ch)
    W, H = CELL_W, CELL_H
    rects = None  # fractions (l, t, r, b) of the cell
    if o == 0x2580:
        rects = [(0, 0, 1, 0.5)]
    elif 0x2581 <= o <= 0x2588:  # lower 1/8 .. full
        rects = [(0, 1 - (o - 0x2580) / 8, 1, 1)]
    elif 0x2589 <= o <= 0x258F:  # left 7/8 .. 1/8
        rects = [(0, 0, (0x2590 - o) / 8, 1)]
    elif o == 0x2590:
        rects = [(0.5, 0, 1, 1)]
    elif o in (0x2591, 0x2592, 0x2593):  # shades
        t = {0x2591: 0.25, 0x2592: 0.5, 0x2593: 0.75}[o]
        d.rectangle([x0, y0, x0 + W - 1, y0 + H - 1], fill=_blend(fg, bg, t))
        return True
    elif o == 0x2594:
        rects = [(0, 0, 1, 1 / 8)]
    elif o == 0x2595:
        rects = [(7 / 8, 0, 1, 1)]
    elif 0x2596 <= o <= 0x259F:
        q = {  # quadrants: upper-left, upper-right, lower-left, lower-right
            0x2596: "0010", 0x2597: "0001", 0x2598: "1000", 0x2599: "1011",
            0x259A: "1001", 0x259B: "1110", 0x259C: "1101", 0x259D: "0100",
            0x259E: "0110", 0x259F: "0111",
        }[o]
        boxes = [(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5), (0, 0.5, 0.5, 1), (0.5, 0.5, 1, 1)]
        rects = [b for b, on in zip(boxes, q) if on == "1"]
    else:
        return False
    for l, t, r, b in rects:
        xa, xb = x0 + round(l * W), x0 + round(r * W) - 1
        ya, yb = y0 + round(t * H), y0 + round(b * H) - 1
        if xb >= xa and yb >= ya:
            d.rectangle([xa, ya, xb, yb], fill=fg)
    return True


class Fonts:
    def __init__(self):
        self.faces = {}
        for key, name in FONT_FILES.items():
            path = os.path.join(FONT_DIR, name)
            if not os.path.exists(path):
                path = os.path.join(FONT_DIR, FONT_FILES[(False, False)])
            self.faces[key] = ImageFont.truetype(path, FONT_SIZE)
        fb = os.path.join(FONT_DIR, FALLBACK_FONT)
        self.fallback = ImageFont.truetype(fb, FONT_SIZE) if os.path.exists(fb) else None
        self.ascent = self.faces[(False, False)].getmetrics()[0]
        self._notdef = {}
        self._cache = {}

    def face(self, ch, bold, italic):
        """The face to draw ch with: the mono face unless it lacks the glyph."""
        key = (ch, bold, italic)
        if key not in self._cache:
            f = self.faces[(bold, italic)]
            if self.fallback is not None and ord(ch) > 0x7F:
                if (bold, italic) not in self._notdef:
                    self._notdef[(bold, italic)] = bytes(f.getmask("\ue000"))
                if bytes(f.getmask(ch)) == self._notdef[(bold, italic)]:
                    f = self.fallback
            self._cache[key] = f
        return self._cache[key]


def render(text, cols, rows):
    screen = pyte.Screen(cols, rows)
    stream = pyte.Stream(screen)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the dump ends with a newline; feeding it would scroll
    stream.feed("\r\n".join(lines[:rows]))

    fonts = Fonts()
    img = Image.new("RGB", (cols * CELL_W + 2 * PAD, rows * CELL_H + 2 * PAD), DEFAULT_BG)
    d = ImageDraw.Draw(img)
    baseline = (CELL_H - (fonts.ascent + 4)) // 2 + fonts.ascent

    for y in range(rows):
        row = screen.buffer[y]
        for x in range(cols):
            c = row[x]
            fg = colour(c.fg, DEFAULT_FG)
            bg = colour(c.bg, DEFAULT_BG)
            if c.reverse:
                fg, bg = bg, fg
            x0 = PAD + x * CELL_W
            y0 = PAD + y * CELL_H
            ch = c.data
            wide = x + 1 < cols and row[x + 1].data == "" and ch not in ("", " ")
            w = CELL_W * (2 if wide else 1)
            if bg != DEFAULT_BG:
                d.rectangle([x0, y0, x0 + w - 1, y0 + CELL_H - 1], fill=bg)
            if ch in ("", " "):
                pass
            elif ch in BOX:
                draw_box(d, x0, y0, ch, fg)
            elif draw_block(d, x0, y0, ch, fg, bg):
                pass
            else:
                f = fonts.face(ch, bool(c.bold), bool(c.italics))
                adv = f.getlength(ch)
                gx = x0 + (w - adv) / 2 if adv <= w else x0
                d.text((round(gx), y0 + baseline), ch, font=f, fill=fg, anchor="ls")
            if c.underscore:
                uy = y0 + baseline + 2
                d.rectangle([x0, uy, x0 + w - 1, uy], fill=fg)
            if c.strikethrough:
                sy = y0 + CELL_H // 2
                d.rectangle([x0, sy, x0 + w - 1, sy], fill=fg)
    return img


def main(argv):
    if len(argv) not in (3, 5):
        sys.stderr.write(__doc__)
        return 2
    src, dst = argv[1], argv[2]
    cols, rows = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (130, 34)
    with open(src, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    img = render(text, cols, rows)
    img.save(dst, format="PNG", optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
