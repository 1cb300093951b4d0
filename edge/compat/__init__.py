"""PaddleOCR compatibility: its class, its parameters and its command-line flags, mapped onto this box."""
