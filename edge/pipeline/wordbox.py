"""Word and character boxes of a recognised line, from the CTC columns its characters were read at (PaddleX's
`return_word_box`): runs of Latin letters/digits and of symbols get one box each, every CJK character its own box.
The boxes are the line box's slices along its reading direction; their order (top to bottom, left to right) and the
words' order (reading order, CJK characters last within a line's boxes) follow PaddleX's, quirks included."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class Columns:
    """Where a line's characters were read: `cols` are the kept CTC columns (one per character of the text) and
    `col_num` is the width of the crop itself in columns (the batch's column count scaled by its share of the
    batch's widest aspect ratio)."""

    cols: np.ndarray
    col_num: float


def _kind(text: str, i: int, current: str | None) -> str:
    ch = text[i]
    if "\u4e00" <= ch <= "\u9fff":
        return "cn"
    if ch.isascii() and ch.isalnum():
        return "en&num"
    if current == "en&num" and (ch == "-" or (ch == "." and i + 1 < len(text) and text[i + 1].isascii()
                                               and text[i + 1].isdigit())):
        return "en&num"  # VGG-16, 1.123 stay one word
    return "symbol"


def group_words(text: str, cols: np.ndarray) -> list[tuple[str, list[str], list[int]]]:
    """(kind, characters, columns) of each run of one kind, in reading order."""
    groups: list[tuple[str, list[str], list[int]]] = []
    current = None
    for i, ch in enumerate(text):
        kind = _kind(text, i, current)
        if current is None or kind != current:
            groups.append((kind, [], []))
            current = kind
        groups[-1][1].append(ch)
        groups[-1][2].append(int(cols[i]))
    return groups


def _sort_boxes(boxes: list[Box], y_thresh: float = 12) -> list[Box]:
    """Rows by centre y (a box joins the row while its centre is within y_thresh of the previous one), each row by
    centre x."""
    items = sorted(((b, np.mean(b, axis=0)) for b in boxes), key=lambda it: it[1][1])
    rows: list[list] = []
    last_y = None
    for b, c in items:
        if last_y is None or abs(c[1] - last_y) >= y_thresh:
            rows.append([])
        rows[-1].append((b, c))
        last_y = c[1]
    return [b for row in rows for b, _ in sorted(row, key=lambda it: it[1][0])]


def word_boxes(text: str, poly: np.ndarray, columns: Columns) -> tuple[list[str], list[Box]]:
    """(words, boxes) of one line whose detection quad is `poly`."""
    q = np.asarray(poly).tolist()
    xs, ys = [p[0] for p in q], [p[1] for p in q]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    vertical = width == 0 or height / width > 1.5
    x0, x1, y0, y1 = q[0][0], q[1][0], q[0][1], q[2][1]
    start, size = (y0, y1 - y0) if vertical else (x0, x1 - x0)
    cell = size / columns.col_num if columns.col_num else 0.0

    def box(a: int, b: int) -> Box:
        return ((x0, a), (x0, b), (x1, b), (x1, a)) if vertical else ((a, y0), (b, y0), (b, y1), (a, y1))

    words: list[str] = []
    boxes: list[Box] = []
    cn_sizes: list[float] = []
    cn_cols: list[int] = []
    for kind, chars, cols in group_words(text, columns.cols):
        if kind == "cn":
            if len(cols) > 1:
                cn_sizes.append((cols[-1] - cols[0] + 1) * cell / (len(cols) - 1))
            cn_cols += cols
            words += chars
        else:
            boxes.append(box(start + int(cols[0] * cell), start + int((cols[-1] + 1) * cell)))
            words.append("".join(chars))
    if cn_cols:
        char_size = float(np.mean(cn_sizes)) if cn_sizes else size / len(text)
        for c in cn_cols:
            centre = (c + 0.5) * cell
            boxes.append(box(max(int(centre - char_size / 2), 0) + start, min(int(centre + char_size / 2), size) + start))
    return words, _sort_boxes(boxes)
