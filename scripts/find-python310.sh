#!/usr/bin/env bash
# Prints the path of a CPython 3.10 interpreter, or explains what to install and exits 1.
# Paddle Lite 2.13rc0 has wheels only for CPython 3.8 and 3.10, so the runtime is 3.10.
set -u
is310() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
try() { if [ -n "$1" ] && is310 "$1"; then command -v "$1" 2>/dev/null || echo "$1"; exit 0; fi; }

try "${EDGE_OCR_PYTHON:-}"
if command -v pyenv >/dev/null 2>&1; then
  # pyenv may have 3.10 installed without selecting it; the shim then refuses to run.
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
    p="$(pyenv prefix "$v" 2>/dev/null)/bin/python"
    try "$p"
  done
fi
try "$(command -v python3.10 2>/dev/null)"
for p in /usr/bin/python3.10 /usr/local/bin/python3.10 /opt/python3.10/bin/python3.10; do try "$p"; done

# printf is a shell builtin: the message gets out even where PATH has nothing in it
printf '%s\n' >&2 \
  "edge-ocr: no CPython 3.10 found." \
  "  Paddle Lite 2.13rc0 (the engine for ARM graphs) ships wheels only for CPython 3.8 and 3.10, so edge-ocr runs on 3.10." \
  "  Install one of:" \
  "    pyenv install 3.10.13                                # any OS with pyenv" \
  "    apt-get install python3.10 python3.10-venv           # Debian/Ubuntu releases that package 3.10" \
  "  or point EDGE_OCR_PYTHON at an existing interpreter:  EDGE_OCR_PYTHON=/path/to/python3.10 make setup"
exit 1
