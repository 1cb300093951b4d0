"""edge.pipeline.bitexact recomputes OpenCV's geometry and resizing as x86_64 OpenCV does, so that ARM boards (where
cvops uses it) crop and resize exactly as the official pipeline. Here, on x86_64, every function must equal OpenCV
bit for bit on random and real inputs; `make verify-arm64` runs the same pipeline under emulated aarch64."""
import glob
import platform

import cv2
import numpy as np
import pytest

from conftest import REFERENCE
from edge.pipeline import bitexact, cvops
from edge.pipeline.geometry import order_min_area_rect

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="OpenCV is the reference only on x86_64, where the official pipeline runs")


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def rect_values(r) -> np.ndarray:
    return np.float32([*r[0], *r[1], r[2]])


@pytest.fixture(scope="module")
def pages():
    return [cv2.imread(f) for f in sorted(glob.glob(str(REFERENCE / "images" / "*.[jp][pn]g")))]


def point_sets(rng, n):
    """Rotated clouds, axis-aligned rectangles, collinear runs, single points and DB-like blob outlines."""
    for _ in range(n):
        k = rng.integers(3, 50)
        c, s = np.cos(np.radians(a := rng.uniform(-180, 180))), np.sin(np.radians(a))
        u = rng.uniform(-0.5, 0.5, (k, 2)) * [rng.uniform(1, 900), rng.uniform(1, 80)]
        yield np.rint(np.stack([500 + u[:, 0] * c - u[:, 1] * s, 400 + u[:, 0] * s + u[:, 1] * c], 1)).astype(np.int32)
        x0, y0, w, h = (int(v) for v in rng.integers(1, 300, 4))
        yield np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.int32)[rng.permutation(4)]
        yield (np.array([x0, y0]) + np.outer(np.arange(rng.integers(2, 6)), rng.integers(-40, 40, 2))).astype(np.int32)
        yield np.array([[x0, y0]] * int(rng.integers(1, 3)), np.int32)
        blob = np.zeros((90, 220), np.uint8)
        cv2.ellipse(blob, (110, 45), (int(rng.integers(2, 100)), int(rng.integers(1, 40))), float(rng.uniform(-40, 40)),
                    0, 360, 255, -1)
        yield from cv2.findContours(blob, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[0]


def test_rectangles_corners_areas_and_lengths_equal_opencv():
    rng = np.random.default_rng(1)
    checked = 0
    for pts in point_sets(rng, 400):
        rect = cv2.minAreaRect(pts)
        assert same(rect_values(bitexact.min_area_rect(pts)), rect_values(rect)), pts.tolist()
        corners = cv2.boxPoints(rect)
        assert same(bitexact.box_points(rect), corners), rect
        box = order_min_area_rect(rect)
        assert bitexact.contour_area(box) == cv2.contourArea(box)
        assert bitexact.arc_length(box) == cv2.arcLength(box, True)
        assert bitexact.side_length(box[0], box[1]) == np.linalg.norm(box[0] - box[1])
        checked += 1
    assert checked == 2000


def test_perspective_crops_equal_opencv(pages):
    rng = np.random.default_rng(2)
    for k in range(300):
        img = pages[k % len(pages)]
        hgt, wid = img.shape[:2]
        pts = rng.uniform(0, 1, (8, 2)) * [wid, hgt]
        src = order_min_area_rect(cv2.minAreaRect(np.rint(pts).astype(np.int32)))
        w, h = int(rng.integers(1, 400)), int(rng.integers(1, 80))
        dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        m = cv2.getPerspectiveTransform(src, dst)
        assert same(bitexact.perspective_transform(src, dst), m)
        expected = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
        assert same(bitexact.warp_perspective(img, m, (w, h)), expected), (src.tolist(), w, h)


def test_rotations_equal_opencv(pages):
    rng = np.random.default_rng(3)
    for img in pages:
        h, w = img.shape[:2]
        for angle in (90, 180, 270, float(rng.uniform(-180, 180))):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            assert same(bitexact.rotation_matrix((w / 2, h / 2), angle), m)
            m[0, 2] += 7.5
            size = (w + int(rng.integers(0, 40)), h + int(rng.integers(0, 40)))
            assert same(bitexact.warp_affine(img, m, size), cv2.warpAffine(img, m, size, flags=cv2.INTER_CUBIC))


def test_resizes_equal_opencv(pages):
    rng = np.random.default_rng(4)
    for k in range(400):
        img = pages[k % len(pages)]
        if k % 5 == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        y0, x0 = rng.integers(0, img.shape[0] // 2), rng.integers(0, img.shape[1] // 2)
        crop = img[y0:y0 + rng.integers(1, img.shape[0] - y0 + 1), x0:x0 + rng.integers(1, img.shape[1] - x0 + 1)]
        size = (int(rng.integers(1, 1000)), int(rng.integers(1, 1000)))
        if k % 3 == 0:  # recognition's: height 48
            size = (int(np.ceil(48 * crop.shape[1] / crop.shape[0])), 48)
        assert same(bitexact.resize(crop, size), cv2.resize(crop, size)), (crop.shape, size)


def test_the_pipeline_uses_opencv_itself_here():
    """On x86_64 OpenCV is the reference and the fast path; the portable code serves other CPUs."""
    assert cvops.NATIVE and all(getattr(cvops, name) is not getattr(bitexact, name) for name in cvops.OPERATIONS)


def test_the_pipeline_reads_the_same_with_the_portable_operations(reference, monkeypatch):
    """What an ARM board runs, run here: every reference image, both orientation models on (rotations), the same
    boxes, texts and scores as with OpenCV's own operations."""
    from edge.api import EdgeOCR

    def read():
        ocr = EdgeOCR(profile="x86-onnxruntime", use_doc_orientation_classify=True, use_textline_orientation=True)
        try:
            return [ocr.predict(str(p))[0].json["res"] for p in sorted((reference / "images").iterdir())
                    if p.suffix != ".pdf"]
        finally:
            ocr.close()

    native = read()
    for name in cvops.OPERATIONS:
        monkeypatch.setattr(cvops, name, getattr(bitexact, name))
    portable = read()
    assert len(native) == 12 and sum(len(r["rec_texts"]) for r in native) > 100
    for a, b in zip(native, portable):
        assert a == b, a["input_path"]  # boxes, angles, texts, scores: the whole result
