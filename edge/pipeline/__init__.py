"""OCR stages: pure numpy/OpenCV pre- and post-processing around the engines' predictors."""
