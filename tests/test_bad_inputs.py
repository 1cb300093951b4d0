"""Bad input gets a clear error naming the input and the cause; in a batch the other inputs go on."""
import io

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from edge import EdgeOCR
from edge.errors import InputError


@pytest.fixture(scope="module")
def ocr():
    return EdgeOCR(profile="x86-onnxruntime", max_pixels=50_000_000, max_pdf_pages=50)


def _png(w=320, h=120, text="Hello 123"):
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.putText(img, text, (10, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    return cv2.imencode(".png", img)[1].tobytes()


def _one_failure(ocr, item):
    out = ocr.predict(item)
    assert len(out) == 1 and not out[0].ok
    return out[0]


def test_zero_bytes(ocr, tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    f = _one_failure(ocr, str(p))
    assert "empty.jpg" in f["error"] and "0 bytes" in f["error"]


def test_not_an_image(ocr, tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is text, not a scan")
    f = _one_failure(ocr, str(p))
    assert "notes.jpg: not an image or PDF" in f["error"]


def test_truncated_jpeg(ocr, reference, tmp_path):
    data = (reference / "images" / "general_ocr_002.jpg").read_bytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    assert "truncated" in _one_failure(ocr, str(p))["error"]


def test_corrupt_png(ocr, tmp_path):
    data = bytearray(_png())
    data[60:200] = b"\x00" * 140
    p = tmp_path / "broken.png"
    p.write_bytes(bytes(data))
    f = _one_failure(ocr, str(p))
    assert "broken.png" in f["error"]


def test_decompression_bomb_is_refused_before_decoding(ocr, tmp_path):
    """A 30000x30000 PNG (a few hundred KB on disk, 2.7 GB decoded) is refused from its header."""
    im = Image.new("L", (30000, 30000), 255)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=9)
    p = tmp_path / "bomb.png"
    p.write_bytes(buf.getvalue())
    f = _one_failure(ocr, str(p))
    assert "bomb.png" in f["error"] and ("30000x30000" in f["error"] or "too large" in f["error"])


def test_encrypted_pdf(ocr, tmp_path):
    pikepdf = pytest.importorskip("pikepdf")
    pdf = pikepdf.new()
    pdf.add_blank_page()
    p = tmp_path / "secret.pdf"
    pdf.save(p, encryption=pikepdf.Encryption(owner="o", user="u"))
    f = _one_failure(ocr, str(p))
    assert "secret.pdf" in f["error"] and "encrypted" in f["error"]


def test_damaged_pdf(ocr, tmp_path):
    p = tmp_path / "damaged.pdf"
    p.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 200)
    f = _one_failure(ocr, str(p))
    assert "damaged.pdf" in f["error"] and "PDF" in f["error"]


def _pdf_with_pages(n: int) -> bytes:
    doc = pdfium.PdfDocument.new()
    for _ in range(n):
        doc.new_page(200, 200)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_pdf_over_the_page_limit(ocr, tmp_path):
    p = tmp_path / "huge.pdf"
    p.write_bytes(_pdf_with_pages(5000))
    f = _one_failure(ocr, str(p))
    assert "5000 pages" in f["error"] and "limit of 50" in f["error"] and "page_limit" in f["hint"]
    pages = ocr.predict(str(p), page_limit=2)  # with an explicit page limit the first pages are read
    assert [r["page_index"] for r in pages] == [0, 1] and all(r.ok for r in pages)


def test_missing_file_and_wrong_type(ocr, tmp_path):
    assert "no such file" in _one_failure(ocr, str(tmp_path / "nope.png"))["error"]
    assert "unsupported input type" in _one_failure(ocr, 42)["error"]
    assert "dtype" in _one_failure(ocr, np.zeros((10, 10, 3), np.float32))["error"]


def test_one_bad_input_does_not_stop_the_others(ocr, tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(_png())
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    results = list(ocr.predict_iter([str(bad), str(good), b"", str(good)]))
    assert [r.ok for r in results] == [False, True, False, True]
    assert results[1]["rec_texts"]


def test_a_failure_never_passes_for_an_empty_page(ocr):
    f = _one_failure(ocr, b"")
    with pytest.raises(InputError, match="empty input"):
        f["rec_texts"]


def test_images_with_trailing_bytes_read_as_the_official_decoder_reads_them(ocr, reference, tmp_path):
    """cv2.imdecode (the official pipeline's decoder) reads a JPEG or PNG with bytes after its end: so does this."""
    jpeg = (reference / "images" / "rapid_en.jpg").read_bytes()
    clean = ocr.predict(jpeg)[0]
    for name, data in (("tail.jpg", jpeg + b"\0" * 10000 + b"appended by a scanner"),
                       ("tail.png", _png() + b"GARBAGE" * 2000)):
        r = ocr.predict(data, input_name=name)[0]
        assert r.ok, dict(r)
    assert ocr.predict(jpeg + b"\0" * 10000)[0]["rec_texts"] == clean["rec_texts"]
    cut = jpeg[: len(jpeg) - 3000] + b"\0" * 5000  # cut inside the scan, junk after: still truncated
    assert "truncated" in _one_failure(ocr, cut)["error"]


def test_a_jpeg_comment_holding_pdf_is_still_a_jpeg(ocr, reference):
    jpeg = (reference / "images" / "rapid_en.jpg").read_bytes()
    comment = b"\xff\xfe" + (len(b"%PDF-1.7 not a pdf") + 2).to_bytes(2, "big") + b"%PDF-1.7 not a pdf"
    tagged = jpeg[:2] + comment + jpeg[2:]
    r = ocr.predict(tagged)[0]
    assert r.ok and r["rec_texts"] == ocr.predict(jpeg)[0]["rec_texts"]


def test_a_giant_pdf_page_is_refused_as_too_large_not_a_crash(ocr, tmp_path):
    import pypdfium2 as pdfium

    from edge.errors import InputTooLargeError

    doc = pdfium.PdfDocument.new()
    doc.new_page(1_000_000, 1_000_000).close()  # far past the 200-inch page PDF allows; pdfium opens it anyway
    p = tmp_path / "giant.pdf"
    doc.save(str(p))
    f = _one_failure(ocr, str(p))
    assert f["error_type"] == InputTooLargeError.__name__ and "over" in f["error"] and "MP" in f["error"]
