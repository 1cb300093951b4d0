"""Scripts run by the NPU toolkits' own Pythons (never imported by edge-ocr itself): their paths, for the build
(modelbuild) and for the engines that run a build in its toolkit on an x86_64 host."""
from pathlib import Path

RKNN_TOOL = Path(__file__).resolve().parent / "rknn_tool.py"
PADDLE_TOOL = Path(__file__).resolve().parent / "paddle_tool.py"
