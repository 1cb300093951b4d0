"""OpenCV's geometry and resizing, computed the way its x86_64 build computes them, on every machine.

The official pipeline runs on x86_64, where OpenCV rounds after every float operation. OpenCV's aarch64 wheels are
compiled with fused multiply-add, so minAreaRect, boxPoints, getPerspectiveTransform, the warp matrices and resize's
weights differ there in the last bits, and a crop's sampling grid moves: on an emulated aarch64 one line of a
reference receipt read `(TII)` for the official `(TIIE)`. Here every operation is one numpy/Python operation with
one rounding (float32 where OpenCV uses float, double where it uses double), so x86_64 and ARM boards give
OpenCV-x86 results bit for bit. Pixel sampling stays in OpenCV (`remap` with fixed-point maps: integer arithmetic,
the same on every CPU).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

F = np.float32
_HALF, _ONE = F(0.5), F(1.0)
_INTER_BITS = 5  # OpenCV's sub-pixel resolution for warps: 1/32 pixel
_BLOCK = 32  # warpPerspective computes its map in blocks of 32x32 destination pixels (at most)
_RESIZE_BITS = 11  # resize weights are fixed point with 11 fractional bits


def min_area_rect(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float]:
    """cv2.minAreaRect of integer points: (center, (width, height), angle in [-90, 0) degrees), float32 values.

    The calipers run on the counter-clockwise hull, as OpenCV 4.x's do; the rectangle is then reported by the side
    whose direction lies in [-90, 0) degrees (tests/test_bitexact.py checks all of it bit for bit against OpenCV)."""
    hull = cv2.convexHull(np.asarray(points, np.int32).reshape(-1, 1, 2), clockwise=False)  # integer: exact
    pts = [(F(x), F(y)) for x, y in hull.reshape(-1, 2).tolist()]
    n = len(pts)
    if n > 2:
        (px, py), (ax, ay), (bx, by) = _rotating_calipers(pts)
        cx = px + (ax + bx) * _HALF
        cy = py + (ay + by) * _HALF
        ax, ay, bx, by = float(ax), float(ay), float(bx), float(by)
        side = (ax, ay)
        width, height = F(math.sqrt(ax * ax + ay * ay)), F(math.sqrt(bx * bx + by * by))
    elif n == 2:
        (x0, y0), (x1, y1) = pts
        cx, cy = (x0 + x1) * _HALF, (y0 + y1) * _HALF
        side = (float(x1 - x0), float(y1 - y0))
        width, height = F(math.sqrt(side[0] * side[0] + side[1] * side[1])), F(0.0)
    else:
        cx, cy = pts[0] if n else (F(0.0), F(0.0))
        return (float(cx), float(cy)), (0.0, 0.0), -90.0
    (vx, vy), angle = side, F(math.atan2(side[1], side[0]) * 180.0 / math.pi)
    for _ in range(4):  # turn the reported side by -90 degrees (exactly: a swap and a sign) until it is in range
        if -90.0 <= angle < 0.0:
            break
        vx, vy = vy, -vx
        width, height = height, width
        angle = F(math.atan2(vy, vx) * 180.0 / math.pi)
    return (float(cx), float(cy)), (float(width), float(height)), float(angle)


def _rotating_calipers(pts: list[tuple]) -> tuple[tuple, tuple, tuple]:
    """Corner and the two side vectors of the minimum-area rectangle around a convex polygon (float32 throughout,
    as OpenCV's rotatingCalipers)."""
    n = len(pts)
    vect, inv_len = [], []
    left = bottom = right = top = 0
    left_x = right_x = pts[0][0]
    top_y = bottom_y = pts[0][1]
    for i in range(n):
        x0, y0 = pts[i]
        if x0 < left_x:
            left_x, left = x0, i
        if x0 > right_x:
            right_x, right = x0, i
        if y0 > top_y:
            top_y, top = y0, i
        if y0 < bottom_y:
            bottom_y, bottom = y0, i
        x1, y1 = pts[(i + 1) % n]
        dx, dy = float(x1 - x0), float(y1 - y0)  # float differences, widened
        vect.append((F(dx), F(dy)))
        inv_len.append(F(1.0 / math.sqrt(dx * dx + dy * dy)))
    orientation = F(0.0)
    ax, ay = float(vect[-1][0]), float(vect[-1][1])
    for vx, vy in vect:
        bx, by = float(vx), float(vy)
        convexity = ax * by - ay * bx
        if convexity != 0:
            orientation = _ONE if convexity > 0 else -_ONE
            break
        ax, ay = bx, by
    base_a, base_b = orientation, F(0.0)
    seq = [bottom, right, top, left]
    minarea = F(np.finfo(np.float32).max)
    best = None
    for _ in range(n):
        # the edge making the smallest angle with its caliper, chosen by the sign of a cross product (OpenCV >= 4.5.4)
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = (vect[i] for i in seq)
        turned = ((x0, y0), (y1, -x1), (-x2, -y2), (-y3, x3))
        main = 0
        for i in range(1, 4):
            (ux, uy), (vx, vy) = turned[i], turned[main]
            if uy * vx + -ux * vy < 0:  # turned[i] lies clockwise of the current choice
                main = i
        p = seq[main]
        lead_x, lead_y = vect[p][0] * inv_len[p], vect[p][1] * inv_len[p]
        base_a, base_b = ((lead_x, lead_y), (lead_y, -lead_x), (-lead_x, -lead_y), (-lead_y, lead_x))[main]
        seq[main] = (seq[main] + 1) % n
        dx, dy = pts[seq[1]][0] - pts[seq[3]][0], pts[seq[1]][1] - pts[seq[3]][1]
        width = dx * base_a + dy * base_b
        dx, dy = pts[seq[2]][0] - pts[seq[0]][0], pts[seq[2]][1] - pts[seq[0]][1]
        height = -dx * base_b + dy * base_a
        area = width * height
        if area <= minarea:
            minarea = area
            best = (seq[3], base_a, width, base_b, height, seq[0])
    left_i, a1, width, b1, height, bottom_i = best
    a2, b2 = -b1, a1
    c1 = a1 * pts[left_i][0] + pts[left_i][1] * b1
    c2 = a2 * pts[bottom_i][0] + pts[bottom_i][1] * b2
    idet = _ONE / (a1 * b2 - a2 * b1)
    corner = ((c1 * b2 - c2 * b1) * idet, (a1 * c2 - a2 * c1) * idet)
    return corner, (a1 * width, b1 * width), (a2 * height, b2 * height)


def box_points(rect) -> np.ndarray:
    """cv2.boxPoints: the four corners of a rotated rectangle, float32 [4, 2]."""
    (cx, cy), (w, h), angle = rect
    cx, cy, w, h = F(cx), F(cy), F(w), F(h)
    rad = float(F(angle)) * math.pi / 180.0
    b = F(math.cos(rad)) * _HALF
    a = F(math.sin(rad)) * _HALF
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    p2 = (cx + a * h + b * w, cy - b * h + a * w)
    p3 = (cx - a * h + b * w, cy + b * h + a * w)
    return np.array([p0, p1, p2, p3], dtype=np.float32)


def perspective_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """cv2.getPerspectiveTransform (LU decomposition): the 3x3 matrix taking the four src points to dst."""
    s = [(F(x), F(y)) for x, y in np.asarray(src, np.float32).tolist()]
    d = [(F(x), F(y)) for x, y in np.asarray(dst, np.float32).tolist()]
    a = [[0.0] * 8 for _ in range(8)]
    b = [0.0] * 8
    for i in range(4):
        (sx, sy), (dx, dy) = s[i], d[i]
        a[i][0] = a[i + 4][3] = float(sx)
        a[i][1] = a[i + 4][4] = float(sy)
        a[i][2] = a[i + 4][5] = 1.0
        a[i][6] = float(-sx * dx)  # float products, as OpenCV's Point2f arithmetic
        a[i][7] = float(-sy * dx)
        a[i + 4][6] = float(-sx * dy)
        a[i + 4][7] = float(-sy * dy)
        b[i], b[i + 4] = float(dx), float(dy)
    x = _lu_solve(a, b)
    return np.array([*x, 1.0], dtype=np.float64).reshape(3, 3)


def _lu_solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting, in OpenCV's order of operations (hal::LU64f)."""
    m = len(a)
    for i in range(m):
        k = max(range(i, m), key=lambda j: (abs(a[j][i]), -j))
        if abs(a[k][i]) < np.finfo(np.float64).eps * 100:
            return [0.0] * m  # singular: OpenCV's solve leaves zeros
        if k != i:
            a[i], a[k] = a[k], a[i]
            b[i], b[k] = b[k], b[i]
        d = -1.0 / a[i][i]
        for j in range(i + 1, m):
            alpha = a[j][i] * d
            for c in range(i + 1, m):
                a[j][c] += alpha * a[i][c]
            b[j] += alpha * b[i]
    for i in range(m - 1, -1, -1):
        s = b[i]
        for c in range(i + 1, m):
            s -= a[i][c] * b[c]
        b[i] = s / a[i][i]
    return b


def invert3(m: np.ndarray) -> np.ndarray:
    """cv2.invert of a 3x3 matrix (the cofactor formula OpenCV uses for that size)."""
    (a, b, c), (d, e, f), (g, h, i) = np.asarray(m, np.float64).tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if det == 0:
        return np.zeros((3, 3))
    r = 1.0 / det
    return np.array([[(e * i - f * h) * r, (c * h - b * i) * r, (b * f - c * e) * r],
                     [(f * g - d * i) * r, (a * i - c * g) * r, (c * d - a * f) * r],
                     [(d * h - e * g) * r, (b * g - a * h) * r, (a * e - b * d) * r]])


def warp_perspective(img: np.ndarray, m: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_CUBIC,
                     border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """cv2.warpPerspective: the sampling map computed here (OpenCV's blocks, double precision, round to 1/32 px),
    the sampling done by cv2.remap on that fixed-point map."""
    w, h = size
    inv = invert3(m).ravel()
    bh0 = min(_BLOCK // 2, h)
    bw0 = min(_BLOCK * _BLOCK // bh0, w)
    xs = np.arange(w)
    x = (xs // bw0 * bw0).astype(np.float64)  # each block's first column, where OpenCV restarts its sums
    x1 = (xs - xs // bw0 * bw0).astype(np.float64)
    y = np.arange(h, dtype=np.float64)[:, None]
    x0 = inv[0] * x + inv[1] * y + inv[2]
    y0 = inv[3] * x + inv[4] * y + inv[5]
    w0 = inv[6] * x + inv[7] * y + inv[8]
    wk = w0 + inv[6] * x1
    scale = float(1 << _INTER_BITS)
    with np.errstate(divide="ignore"):
        wk = np.where(wk != 0, scale / np.where(wk != 0, wk, 1.0), 0.0)
    lo, hi = float(np.iinfo(np.int32).min), float(np.iinfo(np.int32).max)
    fx = np.rint(np.clip((x0 + inv[0] * x1) * wk, lo, hi)).astype(np.int64)
    fy = np.rint(np.clip((y0 + inv[3] * x1) * wk, lo, hi)).astype(np.int64)
    tab = (1 << _INTER_BITS) - 1
    xy = np.stack([np.clip(fx >> _INTER_BITS, -32768, 32767), np.clip(fy >> _INTER_BITS, -32768, 32767)],
                  axis=-1).astype(np.int16)
    frac = ((fy & tab) * (tab + 1) + (fx & tab)).astype(np.uint16)
    return cv2.remap(img, xy, frac, interpolation, borderMode=border)


def side_length(p: np.ndarray, q: np.ndarray) -> np.float32:
    """np.linalg.norm(p - q) of two float32 points as x86 numpy computes it (ARM BLAS fuses the dot product)."""
    d = np.asarray(p, np.float32) - np.asarray(q, np.float32)
    return np.sqrt(d[0] * d[0] + d[1] * d[1])


def perspective_crop(img: np.ndarray, src: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The quad `src` warped onto a w x h image (cubic, replicated border), as getPerspectiveTransform followed by
    warpPerspective."""
    w, h = size
    return warp_perspective(img, perspective_transform(src, np.float32([[0, 0], [w, 0], [w, h], [0, h]])), size)


def contour_area(pts: np.ndarray) -> float:
    """cv2.contourArea of a float32 polygon (shoelace sum in double, unsigned)."""
    p = np.asarray(pts, np.float32).reshape(-1, 2).astype(np.float64).tolist()
    area, (px, py) = 0.0, p[-1]
    for x, y in p:
        area += px * y - py * x
        px, py = x, y
    return abs(area * 0.5)


def arc_length(pts: np.ndarray) -> float:
    """cv2.arcLength of a closed float32 polygon (float32 sides, summed in double)."""
    p = [(F(x), F(y)) for x, y in np.asarray(pts, np.float32).reshape(-1, 2).tolist()]
    total, (px, py) = 0.0, p[-1]
    for x, y in p:
        dx, dy = x - px, y - py
        total += float(np.sqrt(dx * dx + dy * dy))
        px, py = x, y
    return total


def rotation_matrix(center: tuple[float, float], angle: float, scale: float = 1.0) -> np.ndarray:
    """cv2.getRotationMatrix2D: 2x3, counter-clockwise by `angle` degrees about a float32 center."""
    cx, cy = float(F(center[0])), float(F(center[1]))
    rad = angle * (math.pi / 180)
    alpha, beta = math.cos(rad) * scale, math.sin(rad) * scale
    return np.array([[alpha, beta, (1 - alpha) * cx - beta * cy],
                     [-beta, alpha, beta * cx + (1 - alpha) * cy]], dtype=np.float64)


def warp_affine(img: np.ndarray, m: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_CUBIC,
                border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """cv2.warpAffine: the inverse map in OpenCV's fixed point (1/1024 px, then 1/32 px), sampled by cv2.remap."""
    w, h = size
    (m0, m1, m2), (m3, m4, m5) = np.asarray(m, np.float64).tolist()
    det = m0 * m4 - m1 * m3
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m4 * det, m0 * det
    m0, m1, m3, m4 = a11, m1 * -det, m3 * -det, a22
    m2, m5 = -m0 * m2 - m1 * m5, -m3 * m2 - m4 * m5
    ab_bits = 10
    ab_scale = float(1 << ab_bits)
    round_delta = (1 << ab_bits) // (1 << _INTER_BITS) // 2
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    adelta = np.rint(m0 * xs * ab_scale).astype(np.int64)
    bdelta = np.rint(m3 * xs * ab_scale).astype(np.int64)
    x0 = np.rint((m1 * ys + m2) * ab_scale).astype(np.int64) + round_delta
    y0 = np.rint((m4 * ys + m5) * ab_scale).astype(np.int64) + round_delta
    fx = (x0[:, None] + adelta[None, :]) >> (ab_bits - _INTER_BITS)
    fy = (y0[:, None] + bdelta[None, :]) >> (ab_bits - _INTER_BITS)
    tab = (1 << _INTER_BITS) - 1
    xy = np.stack([np.clip(fx >> _INTER_BITS, -32768, 32767), np.clip(fy >> _INTER_BITS, -32768, 32767)],
                  axis=-1).astype(np.int16)
    frac = ((fy & tab) * (tab + 1) + (fx & tab)).astype(np.uint16)
    return cv2.remap(img, xy, frac, interpolation, borderMode=border)


def _linear_taps(src_n: int, dst_n: int, clamp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source index and the two 11-bit weights of each output position, as OpenCV's resize computes them."""
    scale = 1.0 / (dst_n / src_n)
    f = ((np.arange(dst_n, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s.astype(np.float32)
    if clamp:  # columns only: outside the image the nearest pixel counts whole
        f[s < 0] = 0
        s[s < 0] = 0
        f[s >= src_n - 1] = 0
        s[s >= src_n - 1] = src_n - 1
    one = F(1 << _RESIZE_BITS)
    return s, np.rint((_ONE - f) * one).astype(np.int32), np.rint(f * one).astype(np.int32)



def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.resize(img, size) (bilinear) of a uint8 image, with x86 OpenCV's arithmetic: 11-bit weights, a horizontal
    pass in int32, a vertical pass that drops 4 bits, takes the high halves of 16-bit products and rounds 2 bits."""
    dw, dh = size
    sh, sw = img.shape[:2]
    src = img.reshape(sh, sw, -1)
    sx, a0, a1 = _linear_taps(sw, dw, clamp=True)
    sy, b0, b1 = _linear_taps(sh, dh, clamp=False)
    rows, where = np.unique(np.clip(np.concatenate([sy, sy + 1]), 0, sh - 1), return_inverse=True)
    used = np.take(src, rows, axis=0)  # only the source rows some output row reads, still uint8
    horiz = np.take(used, sx, axis=1).astype(np.int32)
    horiz *= a0[None, :, None]
    right = np.take(used, np.minimum(sx + 1, sw - 1), axis=1).astype(np.int32)
    right *= a1[None, :, None]
    horiz += right
    horiz >>= 4  # at most 255 * 2048 >> 4 = 32640: OpenCV's saturation to int16 never bites
    out = np.take(horiz, where[:dh], axis=0)
    out *= b0[:, None, None]
    out >>= 16
    lower = np.take(horiz, where[dh:], axis=0)
    lower *= b1[:, None, None]
    lower >>= 16
    out += lower
    out += 2
    out >>= 2
    return np.clip(out, 0, 255).astype(np.uint8).reshape(dh, dw, *img.shape[2:])
