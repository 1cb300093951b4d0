"""The scan-folder source against a real journal and real files, without the daemon around it."""
import hashlib
import time

from edge.config import FolderConfig
from edge.service.folder import FolderSource
from edge.service.jobs import FolderJob, MqttJob
from edge.service.journal import Journal
from edge.service.sinks import Sinks
from realparts import drop, scan_image


def _source(tmp_path, **cfg):
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    folder = FolderConfig(path=tmp_path / "scan", done_dir=tmp_path / "done", failed_dir=tmp_path / "failed",
                          settle_seconds=0.0, decode_retries=0, **cfg)
    (tmp_path / "scan").mkdir()
    src = FolderSource(folder, journal, queue_size=100, max_pixels=10**8, excluded=[tmp_path / "done"])
    return src, journal


def _admit_all(src):
    src.rescan()
    src.poll()  # first sight: size and mtime recorded
    time.sleep(0.05)
    return src.poll()


def test_a_file_is_never_moved_while_its_job_is_unsettled(tmp_path):
    """Seen again while the worker finishes it (done, original not yet moved), the file must stay for the worker;
    once the job is settled, an identical copy dropped again is moved out without running again."""
    src, journal = _source(tmp_path)
    path = drop(tmp_path / "scan", "page.jpg", scan_image("PAGE 1"))
    assert _admit_all(src) == 1
    job = journal.claim(timeout=0)
    journal.finish(job.id, "done", {"errorCode": 0}, [])
    assert _admit_all(src) == 0
    assert path.exists() and not (tmp_path / "done").exists()  # the worker's to move, not the scanner's
    journal.mark_settled(job.id)
    assert _admit_all(src) == 0
    assert not path.exists() and (tmp_path / "done" / "page.jpg").exists()
    assert journal.counts()["queued"] == 0


def test_same_name_new_content_is_a_new_job(tmp_path):
    src, journal = _source(tmp_path)
    drop(tmp_path / "scan", "scan.jpg", scan_image("FIRST"))
    assert _admit_all(src) == 1
    drop(tmp_path / "scan", "scan.jpg", scan_image("SECOND"))
    assert _admit_all(src) == 1
    assert journal.counts()["queued"] == 2


def test_queue_size_holds_files_back_without_losing_them(tmp_path):
    src, journal = _source(tmp_path)
    src.queue_size = 2
    for i in range(5):
        drop(tmp_path / "scan", f"q{i}.jpg", scan_image(f"Q {i}"))
    _admit_all(src)
    assert journal.counts()["queued"] == 2
    assert len(list((tmp_path / "scan").glob("*.jpg"))) == 5


def test_ignore_patterns_and_excluded_folders(tmp_path):
    src, journal = _source(tmp_path, ignore=["*.xml", "archive/*"])
    for name in ("meta.xml", "archive/old.jpg", "._page.jpg", "@eaDir/thumb.jpg", "page.jpg.part", "ok.jpg"):
        drop(tmp_path / "scan", name, scan_image("X"))
    assert _admit_all(src) == 1
    job = journal.claim(timeout=0)
    assert job.spec.relpath == "ok.jpg"


def test_worker_pauses_on_a_results_folder_it_cannot_write_and_resumes_by_itself(tmp_path, built):
    """Results folder not writable (a file stands where it should be): nothing is failed, the worker pauses and says
    why; once the folder can be written, every job finishes."""
    import threading

    from edge import EdgeOCR
    from edge.service.worker import Worker, WorkerContext

    journal = Journal(tmp_path / "journal.sqlite3")
    blocked = tmp_path / "results"
    blocked.write_text("a file where the results folder should be")
    scan = tmp_path / "scan"
    drop(scan, "a.jpg", scan_image("A"))
    digest = hashlib.sha256((scan / "a.jpg").read_bytes()).hexdigest()
    job_id, _ = journal.add("folder:a.jpg", FolderJob(path=str(scan / "a.jpg"), relpath="a.jpg", name="a.jpg",
                                                      sha256=digest))
    journal.add("mqtt:ok", MqttJob(topic="t/request", content_sha256="0", kind="image"), payload=scan_image("NEXT"))
    ctx = WorkerContext(journal=journal, ocr=EdgeOCR(profile="x86-onnxruntime"), device_id="t",
                        sinks=Sinks(journal, results_dir=blocked, done_dir=tmp_path / "done",
                                    failed_dir=tmp_path / "failed"))
    worker = Worker(ctx)
    stop = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    t.start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not worker.stats.paused:
            time.sleep(0.1)
        assert worker.stats.paused and str(blocked) in worker.stats.paused
        counts = journal.counts()
        assert counts["failed"] == 0 and counts["done"] == 0 and counts["queued"] + counts["running"] == 2
        blocked.unlink()
        deadline = time.time() + 60
        while time.time() < deadline and journal.counts()["done"] < 2:
            time.sleep(0.1)
        assert journal.counts()["done"] == 2 and worker.stats.paused is None
        assert (blocked / "a.json").exists()
        assert journal.get(job_id)["attempts"] == 1  # the paused runs were not counted as runs that crashed
    finally:
        stop.set()
        t.join(10)


def test_a_queued_scan_swapped_for_a_symlink_is_not_read_through_it(tmp_path, built):
    """Between queueing and processing, the scan is replaced by a link to a secret: the job fails naming the link,
    and nothing of the secret appears in the error file."""
    import threading

    from edge import EdgeOCR
    from edge.service.worker import Worker, WorkerContext

    journal = Journal(tmp_path / "journal.sqlite3")
    scan = tmp_path / "scan"
    page = drop(scan, "a.jpg", scan_image("A"))
    digest = hashlib.sha256(page.read_bytes()).hexdigest()
    journal.add("folder:a.jpg", FolderJob(path=str(page), relpath="a.jpg", name="a.jpg", sha256=digest))
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(page.read_bytes() + b"TOP-SECRET")
    page.unlink()
    page.symlink_to(secret)
    ctx = WorkerContext(journal=journal, ocr=EdgeOCR(profile="x86-onnxruntime"), device_id="t",
                        sinks=Sinks(journal, results_dir=tmp_path / "results", done_dir=tmp_path / "done",
                                    failed_dir=tmp_path / "failed"))
    stop = threading.Event()
    t = threading.Thread(target=Worker(ctx).run, args=(stop,), daemon=True)
    t.start()
    deadline = time.time() + 30
    while time.time() < deadline and journal.counts()["failed"] == 0:
        time.sleep(0.1)
    stop.set()
    t.join(10)
    error = (tmp_path / "failed" / "a.jpg.error.json").read_text()
    assert "replaced by a symbolic link" in error and "TOP-SECRET" not in error
    assert not (tmp_path / "results").exists() and secret.exists()


def test_jobs_are_typed_and_an_unreadable_record_is_set_aside(tmp_path):
    """A job comes back from the journal as the class it went in as; a record that is not a valid job (damaged,
    or written by another version) is failed and kept, and the next job is still claimed."""
    import sqlite3

    journal = Journal(tmp_path / "journal.sqlite3")
    bad_id, _ = journal.add("mqtt:bad", MqttJob(topic="t", content_sha256="0", id="bad"))
    journal.add("folder:ok.jpg", FolderJob(path="/x/ok.jpg", relpath="ok.jpg", name="ok.jpg", sha256="0"))
    journal.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    db.execute("UPDATE jobs SET spec = ? WHERE id = ?", ('{"type": "mqtt", "topic": 7}', bad_id))
    db.commit()
    db.close()
    journal = Journal(tmp_path / "journal.sqlite3")
    job = journal.claim(timeout=1)
    assert isinstance(job.spec, FolderJob) and job.spec.relpath == "ok.jpg" and job.source == "folder"
    bad = journal.get(bad_id)
    assert bad["state"] == "failed" and "could not be read" in bad["result"]["errorMsg"]
