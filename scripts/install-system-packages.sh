#!/usr/bin/env bash
# Debian packages the tests use: mosquitto (a real MQTT broker the tests start on a loopback port),
# systemd (systemd-analyze verify for the unit files), fonts-dejavu-core (Latin fonts for rendered samples),
# qemu-user-static and debootstrap (an emulated Debian arm64 root: make verify-arm64 and its subset in make test).
# Installs only what is missing; needs root (or sudo) and apt.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "edge-ocr: please install these system packages: ${need[*]}" >&2; exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing system packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
