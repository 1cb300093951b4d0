"""edge-ocr: PP-OCRv5 mobile OCR for edge devices (Paddle Lite / ONNX Runtime)."""
__version__ = "0.1.0"
