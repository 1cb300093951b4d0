#!/usr/bin/env bash
# Debian packages the tests use: mosquitto (a real MQTT broker the tests start on a loopback port),
# systemd (systemd-analyze verify for the unit files), fonts-dejavu-core (Latin fonts for rendered samples),
# qemu-user >= 9 and debootstrap (an emulated Debian arm64 root: make verify-arm64 and its subset in make test;
# Debian 12's qemu 7.2 crashes on onnxruntime >= 1.2x, so on bookworm qemu comes from bookworm-backports).
# Installs only what is missing; needs root (or sudo) and apt.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
qemu_major() { /usr/bin/qemu-aarch64 --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p'; }
[ "$(qemu_major)" -ge 9 ] 2>/dev/null || need+=(qemu-user)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "edge-ocr: please install these system packages: ${need[*]}" >&2; exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing system packages: ${need[*]}"
backports=()
if [[ " ${need[*]} " == *" qemu-user "* ]] && . /etc/os-release && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.sources
  [ -f "$list" ] || printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | $sudo tee "$list" >/dev/null
  backports=(-t bookworm-backports)
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${backports[@]}" "${need[@]}" >/dev/null
