#!/usr/bin/env bash
# Usage: find-python.sh ENV_VAR VERSION... — prints the path of the first CPython found among VERSIONs (in the
# order given), or explains what to install and exits 1. $ENV_VAR, when set, names the interpreter to use.
# pyenv may have versions installed but not selected (its shims then refuse to run): their prefixes are tried too.
set -u
var="$1"; shift
want=("$@")
has() { "$1" -c "import sys, venv; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$2' else 1)" >/dev/null 2>&1; }
pick() { if [ -n "$1" ] && has "$1" "$2"; then command -v "$1" 2>/dev/null || echo "$1"; exit 0; fi; }

if [ -n "${!var:-}" ]; then
  for v in "${want[@]}"; do pick "${!var}" "$v"; done
  printf '%s\n' >&2 "edge-ocr: $var=${!var} is not CPython ${want[*]}"; exit 1
fi
for v in "${want[@]}"; do
  if command -v pyenv >/dev/null 2>&1; then
    for full in $(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}(\.[0-9]+)?$" | sort -t. -k3 -n -r); do
      pick "$(pyenv prefix "$full" 2>/dev/null)/bin/python" "$v"
    done
  fi
  pick "$(command -v "python$v" 2>/dev/null)" "$v"
  for p in "/usr/bin/python$v" "/usr/local/bin/python$v" "/opt/python$v/bin/python$v"; do pick "$p" "$v"; done
done

# printf is a shell builtin: the message gets out even where PATH has nothing in it
printf '%s\n' >&2 \
  "edge-ocr: no CPython ${want[*]} found (with the venv module)." \
  "  Install one of:" \
  "    apt-get install python3 python3-venv             # Debian 12: 3.11, Ubuntu 24.04: 3.12" \
  "    pyenv install ${want[0]}" \
  "  or point $var at an existing interpreter:  $var=/path/to/python${want[0]} make setup"
exit 1
