"""POST /ocr through a real server process (`edge-ocr run` with HTTP on) and a plain `requests` client."""
import base64
import io

import pypdfium2 as pdfium
import pytest
import requests

from realparts import Daemon, free_port, local_http_server, scan_image

pytestmark = pytest.mark.timeout(600)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pdf(pages: int) -> bytes:
    doc = pdfium.PdfDocument.new()
    for i in range(pages):
        page = doc.new_page(300, 120)
        page.close()
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    d = Daemon(tmp_path_factory.mktemp("http"), folder={"enabled": False},
               http={"enabled": True, "port": port, "max_pages": 2}, limits={"max_payload_bytes": 2_000_000}).start()
    yield f"http://127.0.0.1:{port}", d
    assert d.terminate() == 0


def test_serving_request_for_an_image(server, reference):
    url, _ = server
    payload = {"file": _b64((reference / "images" / "rapid_en.jpg").read_bytes()), "fileType": 1}
    r = requests.post(f"{url}/ocr", json=payload, timeout=120)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"logId", "errorCode", "errorMsg", "result"}
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success"
    res = body["result"]
    assert set(res) == {"ocrResults", "dataInfo"}
    assert res["dataInfo"] == {"type": "image", "width": 709, "height": 132}
    page = res["ocrResults"][0]
    # visualize defaults to on (PaddleX's Serving.visualize); a field with no image is absent, not null
    assert set(page) == {"prunedResult", "ocrImage", "inputImage"}
    assert "input_path" not in page["prunedResult"] and page["prunedResult"]["rec_texts"]
    plain = requests.post(f"{url}/ocr", json={**payload, "visualize": False}, timeout=120).json()
    assert set(plain["result"]["ocrResults"][0]) == {"prunedResult"}


def test_serving_request_infers_file_type_and_visualizes(server, reference):
    url, _ = server
    payload = {"file": _b64((reference / "images" / "ppocr_11.jpg").read_bytes()), "visualize": True,
               "useTextlineOrientation": True, "textDetBoxThresh": 0.5}
    body = requests.post(f"{url}/ocr", json=payload, timeout=120).json()
    page = body["result"]["ocrResults"][0]
    assert base64.b64decode(page["ocrImage"])[:3] == b"\xff\xd8\xff"
    assert base64.b64decode(page["inputImage"])[:3] == b"\xff\xd8\xff"
    assert page["prunedResult"]["text_det_params"]["box_thresh"] == 0.5
    assert page["prunedResult"]["model_settings"]["use_textline_orientation"] is True


def test_pdf_reads_the_first_max_pages(server, reference):
    url, _ = server
    body = requests.post(f"{url}/ocr", json={"file": _b64(_pdf(5)), "fileType": 0}, timeout=120).json()
    assert body["errorCode"] == 0
    assert body["result"]["dataInfo"]["type"] == "pdf" and body["result"]["dataInfo"]["numPages"] == 2
    real = requests.post(f"{url}/ocr", json={"file": _b64((reference / "images" / "ocrmypdf_c02-22.pdf").read_bytes())},
                         timeout=120).json()
    assert real["errorCode"] == 0 and real["result"]["ocrResults"][0]["prunedResult"]["rec_texts"]


@pytest.mark.parametrize("payload,code,words", [
    ({"file": 12, "fileType": 1}, 422, "file"),
    ({"file": "AAAA", "fileType": 7}, 422, "fileType"),
    ({"file": "%%% not base64 %%%", "fileType": 1}, 422, "base64"),
    ({"file": "", "fileType": 1}, 422, "empty"),
    ({"file": _b64(b"plain text, not a scan")}, 422, "neither an image nor a PDF"),
    ({"file": _b64(b"\xff\xd8\xff\xe0 truncated jpeg")}, 422, "file"),
    ({"file": _b64(scan_image("X")), "fileType": 0}, 422, "fileType 0 says pdf"),
    ({"file": _b64(scan_image("X")), "useDocUnwarping": True}, 422, "unwarping"),
    ({"file": _b64(scan_image("X")), "textDetThresh": "lots"}, 422, "textDetThresh"),
    ({"file": _b64(scan_image("X")), "textDetThresh": 7}, 422, "textDetThresh"),
    ({"file": _b64(scan_image("X")), "textDetLimitSideLen": 960.5}, 422, "textDetLimitSideLen"),
    ({"file": _b64(scan_image("X")), "textDetLimitType": "median"}, 422, "textDetLimitType"),
    ({"file": _b64(scan_image("X")), "useTextlineOrientation": "maybe"}, 422, "useTextlineOrientation"),
    ({"file": _b64(scan_image("X")), "visualize": [1]}, 422, "visualize"),
    ({"file": "https://example.com/scan.jpg"}, 422, "URLs are not accepted"),
    (["not", "an", "object"], 400, "JSON object"),
])
def test_every_bad_field_is_answered_and_the_server_keeps_serving(server, payload, code, words):
    url, _ = server
    r = requests.post(f"{url}/ocr", json=payload, timeout=60)
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"logId", "errorCode", "errorMsg"} and body["errorCode"] == code
    assert words in body["errorMsg"]
    ok = requests.post(f"{url}/ocr", json={"file": _b64(scan_image("OK 1")), "fileType": 1}, timeout=60)
    assert ok.status_code == 200


def test_not_json_and_huge_body(server):
    url, _ = server
    r = requests.post(f"{url}/ocr", data=b"{nope", headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["errorCode"] == 400
    r = requests.post(f"{url}/ocr", data=b"x" * 2_500_000, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["errorCode"] == 413
    assert requests.post(f"{url}/ocr", json={"file": _b64(scan_image("STILL"))}, timeout=60).status_code == 200


def test_openapi_document(server):
    url, _ = server
    doc = requests.get(f"{url}/openapi.json", timeout=10).json()
    body = doc["paths"]["/ocr"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"file", "fileType", "useTextlineOrientation", "textDetThresh", "visualize"} <= set(body["properties"])


def test_token_auth_quota_and_urls(tmp_path, reference):
    image = (reference / "images" / "rapid_en.jpg").read_bytes()

    def serve_image(h):
        h.send_response(200)
        h.end_headers()
        h.wfile.write(image)

    files = local_http_server(serve_image)
    port = free_port()
    d = Daemon(tmp_path / "box", folder={"enabled": False},
               http={"enabled": True, "port": port, "token": "s3cret", "daily_page_quota": 2, "allow_urls": True,
                     "url_allow_hosts": ["127.0.0.1"]}).start()
    url = f"http://127.0.0.1:{port}/ocr"
    try:
        payload = {"file": _b64(scan_image("AUTH 1"))}
        assert requests.post(url, json=payload, timeout=30).status_code == 403
        wrong = requests.post(url, json=payload, headers={"Authorization": "token nope"}, timeout=30)
        assert wrong.status_code == 403 and wrong.json()["errorCode"] == 403
        auth = {"Authorization": "token s3cret"}
        by_url = requests.post(url, json={"file": f"http://127.0.0.1:{files.server_port}/scan.jpg"}, headers=auth, timeout=60)
        assert by_url.status_code == 200 and by_url.json()["result"]["dataInfo"]["width"] == 709
        other = requests.post(url, json={"file": "http://10.0.0.1/x.jpg"}, headers=auth, timeout=30)
        assert other.status_code == 403 and "url_allow_hosts" in other.json()["errorMsg"]
        assert requests.post(url, json=payload, headers=auth, timeout=60).status_code == 200
        over = requests.post(url, json=payload, headers=auth, timeout=30)
        assert over.status_code == 429 and over.json()["errorCode"] == 429
    finally:
        assert d.terminate() == 0
        files.shutdown()


def test_quota_holds_under_concurrency_and_counts_pdf_pages(tmp_path):
    """Quota 5 pages: of 20 concurrent one-page requests exactly 5 pass; a 2-page PDF costs 2 pages."""
    from concurrent.futures import ThreadPoolExecutor

    port = free_port()
    d = Daemon(tmp_path / "q", folder={"enabled": False},
               http={"enabled": True, "port": port, "daily_page_quota": 5, "max_pages": 10}).start()
    url = f"http://127.0.0.1:{port}/ocr"
    try:
        payload = {"file": _b64(scan_image("QUOTA"))}
        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(lambda _: requests.post(url, json=payload, timeout=300).status_code, range(20)))
        assert codes.count(200) == 5 and codes.count(429) == 15, codes
        over = requests.post(url, json={"file": _b64(_pdf(2))}, timeout=60)
        assert over.status_code == 429 and "2 page(s)" in over.json()["errorMsg"]
    finally:
        assert d.terminate() == 0


def test_hostile_requests_get_4xx_json_answers(tmp_path):
    """Non-finite numbers, nesting too deep to parse, a redirect from an allowed host, a body that never
    arrives: each a 4xx with {logId, errorCode, errorMsg}; the server keeps serving."""
    import socket

    def redirect(h):
        h.send_response(302)
        h.send_header("Location", "http://127.0.0.1:1/internal-only")
        h.end_headers()

    files = local_http_server(redirect)
    port = free_port()
    d = Daemon(tmp_path / "h", folder={"enabled": False},
               http={"enabled": True, "port": port, "allow_urls": True, "url_allow_hosts": ["127.0.0.1"],
                     "read_timeout_seconds": 2}).start()
    url = f"http://127.0.0.1:{port}/ocr"
    try:
        for body, code, words in (
                (b'{"file": "x", "textDetUnclipRatio": Infinity}', 400, "Infinity is not a JSON number"),
                (b'{"file": "x", "textDetThresh": NaN}', 400, "NaN"),
                (b"[" * 100000 + b"]" * 100000, 400, "nested too deeply"),
                (f'{{"file": "http://127.0.0.1:{files.server_port}/scan.jpg"}}'.encode(), 422, "redirects are not followed")):
            r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
            assert r.status_code == code and words in r.json()["errorMsg"], (r.status_code, r.text[:300])
            assert set(r.json()) == {"logId", "errorCode", "errorMsg"}
        with socket.create_connection(("127.0.0.1", port)) as s:  # promises 1000 bytes, sends 10
            s.sendall(b"POST /ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                      b'{"file": "')
            s.settimeout(20)
            answer = b""
            while b"did not arrive" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert b" 408 " in answer.split(b"\r\n")[0] and b"did not arrive within 2 s" in answer
        assert requests.post(url, json={"file": _b64(scan_image("STILL"))}, timeout=60).status_code == 200
    finally:
        assert d.terminate() == 0
        files.shutdown()


def test_prometheus_metrics_and_health(server):
    url, _ = server
    assert requests.post(f"{url}/ocr", json={"file": _b64(scan_image("METRICS"))}, timeout=120).status_code == 200
    requests.post(f"{url}/ocr", json={"file": _b64(b"not an image")}, timeout=120)
    r = requests.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['edge_ocr_jobs_total{source="http",state="done"}'] >= 1
    assert samples['edge_ocr_job_seconds_count{source="http"}'] >= 1
    assert samples["edge_ocr_queue_depth"] == 0 and samples["edge_ocr_dead_letters"] == 0
    assert samples["edge_ocr_engine_load_seconds"] > 0 and samples["edge_ocr_resident_memory_bytes"] > 50e6
    assert samples["edge_ocr_worker_paused"] == 0
    health = requests.get(f"{url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["worker"] == "working"


def test_slow_clients_cannot_hold_the_server(tmp_path):
    """20 connections that never finish their headers, against 8 allowed at once: they are closed after the header
    deadline, and a real request is served again."""
    import socket
    import time

    port = free_port()
    d = Daemon(tmp_path / "s", folder={"enabled": False},
               http={"enabled": True, "port": port, "max_connections": 8, "header_timeout_seconds": 2}).start()
    try:
        slow = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /ocr HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        time.sleep(0.5)
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 503  # all slots held
        time.sleep(3)
        closed = 0
        for s in slow:
            s.settimeout(1)
            try:
                closed += s.recv(100) == b""
            except OSError:
                closed += 1
        assert closed == 20
        r = requests.post(f"http://127.0.0.1:{port}/ocr", json={"file": _b64(scan_image("AFTER"))}, timeout=60)
        assert r.status_code == 200
    finally:
        assert d.terminate() == 0
