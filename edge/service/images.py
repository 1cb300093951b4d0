"""Answer images behind URLs (`http.return_urls`): PaddleX's serving can hand out image URLs from a file storage
instead of base64; here the storage is a folder on the device and the URLs point back to it. Each request's images
sit under an unguessable key, so a URL can be fetched without the service token (as a signed storage URL can),
and they are deleted once `url_expires_seconds` have passed."""
from __future__ import annotations

import base64
import re
import secrets
import shutil
import time
from pathlib import Path

# ocrResults fields that hold images, and the names PaddleX's serving stores them under
IMAGE_FIELDS = {"ocrImage": "ocr_img", "docPreprocessingImage": "doc_preprocessing_img", "inputImage": "input_img"}
KEY = re.compile(r"[0-9a-f]{32}")
NAME = re.compile(r"[a-z_]+_[0-9]+\.jpg")


class ImageStore:
    def __init__(self, folder: Path, expires_seconds: float):
        self.folder = folder
        self.expires = expires_seconds

    def to_urls(self, results: list[dict], base_url: str) -> None:
        """Replaces each base64 image in the answer's ocrResults by the URL of a stored copy."""
        self.expire()
        key = secrets.token_hex(16)
        target = self.folder / key
        for i, item in enumerate(results):
            for field, name in IMAGE_FIELDS.items():
                if item.get(field):
                    target.mkdir(parents=True, exist_ok=True)
                    filename = f"{name}_{i}.jpg"
                    (target / filename).write_bytes(base64.b64decode(item[field]))
                    item[field] = f"{base_url.rstrip('/')}/files/{key}/{filename}"

    def read(self, key: str, name: str) -> bytes | None:
        if not KEY.fullmatch(key) or not NAME.fullmatch(name):
            return None
        path = self.folder / key / name
        try:
            if time.time() - path.stat().st_mtime > self.expires:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def expire(self) -> None:
        """Deletes what is older than the expiry (run before each store: the folder stays bounded by traffic)."""
        if not self.folder.is_dir():
            return
        cutoff = time.time() - self.expires
        for d in self.folder.iterdir():
            try:
                if d.stat().st_mtime < cutoff:
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                continue
