"""PaddleOCR serving API shapes: the request (`file`, `fileType`, option fields) and the response
(`logId`, `errorCode`, `errorMsg`, `result.ocrResults[].prunedResult`, `result.dataInfo`)."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..errors import InputError, InputTooLargeError
from ..io.images import frame_count, is_tiff, sniff
from ..options import OcrOptions, camel
from ..tomlfile import problems

# errorCode values follow HTTP status codes, as the serving API's do
BAD_REQUEST, EXPIRED, CONFLICT, TOO_LARGE, UNPROCESSABLE, INTERNAL, UNAVAILABLE = 400, 408, 409, 413, 422, 500, 503


class RequestError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class _RequestBase(BaseModel):
    """The serving API's request, read as PaddleX reads it: unknown fields are ignored, numbers and booleans may come
    as strings ("0.3", "true") and integers as whole floats (960.0). Values are still checked (OcrOptions): a
    threshold of 7 is refused, not run."""

    model_config = ConfigDict(extra="ignore")

    file: str = Field(description="base64 of the image or PDF (URLs only where enabled)")
    fileType: Literal[0, 1] | None = Field(None, description="0 PDF, 1 image; inferred from the bytes when absent")
    visualize: bool | None = None
    logId: str | None = None

    def options(self) -> OcrOptions:
        """The request's pipeline options, checked by OcrOptions (the one validation)."""
        values = {name: getattr(self, camel(name)) for name in OcrOptions.model_fields}
        try:
            return OcrOptions.model_validate(values)
        except ValidationError as e:
            raise RequestError(UNPROCESSABLE, "; ".join(
                f"{camel(p.split(':')[0])}:{p.split(':', 1)[1]}" for p in problems(e))) from None


# The option fields are OcrOptions' own, in the serving API's camelCase, with the same constraints.
OCRRequest = create_model("OCRRequest", __base__=_RequestBase, __module__=__name__, **{
    camel(name): (f.annotation, Field(None, description=f.description, json_schema_extra=None))
    for name, f in OcrOptions.model_fields.items()})


class MqttRequest(OCRRequest):
    """Over MQTT: an `id` for idempotency and correlation, and a reply topic for MQTT 3.1.1 clients."""

    id: str | None = Field(None, min_length=1, max_length=200)
    replyTopic: str | None = Field(None, min_length=1, max_length=512)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def loads(body: bytes | str) -> Any:
    """JSON as the serving API takes it: strict (no NaN/Infinity), and a nesting too deep to parse is a 400, not a
    crash."""
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise RequestError(BAD_REQUEST, f"the request is not JSON ({reason})") from None


def parse_request(data: Any, model: type[OCRRequest] = OCRRequest) -> OCRRequest:
    if not isinstance(data, dict):
        raise RequestError(BAD_REQUEST, "the request must be a JSON object")
    if isinstance(data.get("fileType"), str) and data["fileType"].strip() in ("0", "1"):
        data = {**data, "fileType": int(data["fileType"])}  # a number sent as a string, as for the other fields
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise RequestError(UNPROCESSABLE, "; ".join(problems(e, unknown="unknown field"))) from None


def request_log_id(data: Any) -> str | None:
    """The client's logId from a request that may be invalid otherwise, so that every answer can carry it."""
    log_id = data.get("logId") if isinstance(data, dict) else None
    return log_id if isinstance(log_id, str) and log_id else None


def decode_file(req: OCRRequest) -> tuple[bytes, str]:
    """(bytes, 'pdf'|'image') from the request's base64 `file` and `fileType`."""
    try:
        data = base64.b64decode(req.file, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(UNPROCESSABLE, "file: not valid base64") from None
    return data, file_kind(data, req.fileType)


def kind_of(data: bytes) -> str | None:
    """'pdf', 'tiff' (a TIFF of several pages, answered like a PDF, as PaddleX does), 'image' or None."""
    kind = sniff(data)
    if kind == "image" and is_tiff(data):
        try:
            return "tiff" if frame_count(data) > 1 else "image"
        except InputError:
            return "image"  # decoding it will say what is wrong
    return kind


def file_kind(data: bytes, file_type: int | None) -> str:
    """'pdf', 'tiff' or 'image': from the bytes, checked against fileType when the client gave one (a TIFF is an
    image file)."""
    if not data:
        raise RequestError(UNPROCESSABLE, "file: empty (0 bytes)")
    kind = kind_of(data)
    if file_type is not None:
        declared = "pdf" if file_type == 0 else "image"
        if kind is not None and kind.replace("tiff", "image") != declared:
            raise RequestError(UNPROCESSABLE, f"fileType {file_type} says {declared}, but the file is a {kind}")
        kind = kind or declared
    if kind is None:
        raise RequestError(UNPROCESSABLE, "file: neither an image nor a PDF (set fileType, or send a supported format)")
    return kind


MAX_TOPIC_BYTES = 65535  # MQTT: a topic is a UTF-8 string with a 16-bit length


def utf8_text(value: str, what: str) -> str:
    """value, if it is text MQTT and JSON can carry (no lone surrogates such as a JSON "\\ud800" escape)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(UNPROCESSABLE, f"{what}: not valid UTF-8 text") from None
    return value


def publish_topic(topic: str, what: str) -> str:
    """A topic this service may publish to, by MQTT's rules; otherwise a RequestError naming the rule broken.
    A topic the broker would refuse (NUL, a wildcard) makes it drop the connection on every retry."""
    utf8_text(topic, what)
    if not topic:
        raise RequestError(UNPROCESSABLE, f"{what}: empty")
    if "\0" in topic:
        raise RequestError(UNPROCESSABLE, f"{what}: contains a NUL character")
    if "+" in topic or "#" in topic:
        raise RequestError(UNPROCESSABLE, f"{what}: {topic!r} has a wildcard (+ or #); results are published to "
                                          "one concrete topic")
    if topic.startswith("$"):
        raise RequestError(UNPROCESSABLE, f"{what}: topics starting with $ are the broker's")
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise RequestError(UNPROCESSABLE, f"{what}: longer than MQTT's {MAX_TOPIC_BYTES} bytes")
    return topic


MAX_OUTPUT_IMG_SIZE = (2000, 2000)  # PaddleX's default for images in answers


def fit_image(image: np.ndarray, max_size: tuple[int, int] | None) -> np.ndarray:
    """An answer's image scaled down as PaddleX scales it (its max_output_img_size rule, as written there)."""
    h, w = image.shape[:2]
    if max_size is None or (w <= max_size[1] and h <= max_size[0]):
        return image
    factor = max_size[0] / w if w / h > max_size[0] / max_size[1] else max_size[1] / h
    return cv2.resize(image, (int(factor * w), int(factor * h)))


def jpeg(image: Image.Image | np.ndarray, max_size: tuple[int, int] | None = MAX_OUTPUT_IMG_SIZE) -> bytes:
    """JPEG bytes of a PIL image or a BGR array, as PaddleX's serving encodes them (OpenCV)."""
    arr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR) if isinstance(image, Image.Image) else image
    ok, buf = cv2.imencode(".jpg", fit_image(arr, max_size))
    if not ok:
        raise ValueError("the image could not be encoded as JPEG")
    return buf.tobytes()


def prune(obj: Any) -> Any:
    """The serving API's prunedResult: the result without input_path and page_index, at any depth."""
    if isinstance(obj, dict):
        return {k: prune(v) for k, v in obj.items() if k not in ("input_path", "page_index")}
    if isinstance(obj, list):
        return [prune(v) for v in obj]
    return obj


def b64_jpeg(image: Image.Image | np.ndarray, max_size: tuple[int, int] | None) -> str:
    return base64.b64encode(jpeg(image, max_size)).decode("ascii")


def page_answer(page, visualize: bool, max_img_size: tuple[int, int] | None = MAX_OUTPUT_IMG_SIZE) -> dict:
    """One page's part of the answer: its ocrResults item, its size and its timings. Plain JSON, so the pages of a
    long PDF done before a restart can be kept in the journal and the job goes on from the next page. As PaddleX's,
    the item has no image fields when the answer is not visualised."""
    item = {"prunedResult": prune(page.json["res"])}
    if visualize:
        images = page.to_images()
        item["ocrImage"] = b64_jpeg(images["ocr_res_img"], max_img_size)
        if "preprocessed_img" in images:
            item["docPreprocessingImage"] = b64_jpeg(images["preprocessed_img"], max_img_size)
        item["inputImage"] = b64_jpeg(page.input_image, max_img_size)
    if page.warnings:  # not in PaddleX's answer: added only when the device changed something (memory budget)
        item["warnings"] = list(page.warnings)
    height, width = page.input_image.shape[:2]
    return {"item": item, "size": {"width": int(width), "height": int(height)}, "timings": dict(page.timings)}


def success(log_id: str, answers: list[dict], kind: str) -> dict:
    """kind: image, pdf or tiff (a multi-page TIFF, answered page by page like a PDF)."""
    if kind in ("pdf", "tiff"):
        info = {"numPages": len(answers), "pages": [a["size"] for a in answers], "type": kind}
    else:
        info = {**answers[0]["size"], "type": "image"}
    return {"logId": log_id, "errorCode": 0, "errorMsg": "Success",
            "result": {"ocrResults": [a["item"] for a in answers], "dataInfo": info}}


def failure(log_id: str, code: int, message: str) -> dict:
    return {"logId": log_id, "errorCode": code, "errorMsg": message}


def input_error_code(e: InputError) -> int:
    return TOO_LARGE if isinstance(e, InputTooLargeError) else UNPROCESSABLE
