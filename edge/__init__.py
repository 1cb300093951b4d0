"""edge-ocr: PP-OCRv5 mobile OCR for edge devices (Paddle Lite / ONNX Runtime)."""
__version__ = "0.1.0"
__all__ = ["EdgeOCR", "PaddleOCR"]


def __getattr__(name):  # `from edge import EdgeOCR` without loading OpenCV for every `edge-ocr` subcommand
    if name == "EdgeOCR":
        from .api import EdgeOCR

        return EdgeOCR
    if name == "PaddleOCR":  # the drop-in: `from edge import PaddleOCR` where code had `from paddleocr import PaddleOCR`
        from .compat.paddleocr import PaddleOCR

        return PaddleOCR
    raise AttributeError(name)
