"""The benchmark against the official pipeline (issue 10): the real PaddleOCR 3.7 in its own tool environment under
the cache, edge-ocr beside it on the same files, and the fidelity comparison that reports on both."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from edge.fidelity import compare, load_results

pytestmark = pytest.mark.timeout(1800)


def test_fidelity_counts_boxes_lines_and_page_text(reference):
    ref = load_results(reference / "paddleocr")
    same = compare(copy.deepcopy(ref), ref)
    assert (same.det_f1, same.text_exact, same.page_cer, same.pages) == (1.0, 1.0, 0.0, 13)
    changed = copy.deepcopy(ref)
    key = next(k for k, v in changed.items() if len(v["rec_texts"]) > 3)
    changed[key]["rec_texts"][0] += "x"
    for field in ("rec_texts", "rec_boxes", "rec_polys", "rec_scores"):
        del changed[key][field][1]
    del changed["ppocr_11"]
    f = compare(changed, ref)
    assert f.missing == ["ppocr_11"] and f.det_recall < 1.0 and f.det_precision == 1.0  # lost boxes, none extra
    assert 0.9 < f.text_exact < 1.0 and f.page_cer > 0.0
    extra = changed["rapid_en"]
    extra["rec_texts"].append("GHOST")
    extra["rec_boxes"].append([0, 0, 5, 5])
    assert compare(changed, ref).det_precision < 1.0


def test_bench_peer_runs_the_official_pipeline_beside_edge_ocr(reference, tmp_path):
    """Two reference pages, one process each, no cold runs: the report has every figure for both systems and
    edge-ocr's results equal the official pipeline's own outputs of this run."""
    out = tmp_path / "bench.json"
    files = [str(reference / "images" / n) for n in ("ppocr_11.jpg", "ocrmypdf_c02-22.pdf")]
    p = subprocess.run([sys.executable, "-m", "edge", "bench", *files, "--peer", "paddleocr", "--runs", "1",
                        "--repeat", "1", "--no-cold", "--json", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(out.read_text())
    official, ours = report["systems"]["paddleocr"], report["systems"]["edge-ocr"]
    assert official["about"]["paddleocr"] == "3.7.0" and official["about"]["paddlepaddle"] == "3.2.2"
    for s in (official, ours):
        assert s["first_pass_seconds"] > 0 and s["warm_seconds"] > 0 and s["process_peak_rss_mb"] > 100
        assert set(s["per_file_warm_median_seconds"]) == set(files)
    assert report["fidelity_to_peer"] == {"pages": 2, "missing": [], "det_precision": 1.0, "det_recall": 1.0,
                                          "det_f1": 1.0, "text_exact": 1.0, "page_cer": 0.0}
    assert report["ratios_to_peer"]["warm_seconds"] == round(ours["warm_seconds"] / official["warm_seconds"], 3)
    assert "edge-ocr/paddleocr" in p.stdout and "targets:" in p.stdout
