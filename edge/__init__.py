"""edge-ocr: PP-OCRv5 mobile OCR for edge devices (Paddle Lite / ONNX Runtime)."""
__version__ = "0.1.0"
__all__ = ["EdgeOCR"]


def __getattr__(name):  # `from edge import EdgeOCR` without loading OpenCV for every `edge-ocr` subcommand
    if name == "EdgeOCR":
        from .api import EdgeOCR

        return EdgeOCR
    raise AttributeError(name)
