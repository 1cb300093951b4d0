"""Inputs to pages: images decoded as OpenCV does, PDFs rendered by pdfium, each with limits and clear errors."""
