"""Build host side: turns pinned PyPI wheels into ONNX and Paddle Lite models, proves parity, imports user models.

Nothing here is needed on a device at run time; heavy conversion tools live in their own venvs (toolenv).
"""
