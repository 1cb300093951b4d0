#!/usr/bin/env python3
"""Runs edge-ocr on emulated aarch64: a Debian 12 arm64 root (debootstrap, first stage; its packages unpacked with
dpkg -x), Debian's CPython 3.11 started through qemu-aarch64-static in a chroot (no binfmt_misc is assumed, so
every aarch64 program is started through qemu explicitly), edge-ocr installed the board's way (a venv, pip, the
wheel built on the build host, constraints/runtime.txt: the same pins as x86), the built models copied in. Then, under emulation:
`edge-ocr doctor`, `profiles detect` with a Raspberry Pi 4's and an RK3588 board's device tree, `edge-ocr ocr` on
reference pages with ONNX Runtime (arm-onnxruntime) and OpenVINO (arm-openvino), scored against the official
outputs (exact required), and the daemon turning one dropped scan into a result file.

The root and the install are cached under ~/.cache/edge-ocr/arm64 and rebuilt only when their inputs change.
Needs root (chroot, bind mounts), debootstrap and qemu-user >= 9 (scripts/install-system-packages.sh: Debian 12's
own qemu 7.2 crashes at `import onnxruntime` >= 1.2x, bookworm-backports' 10.0 runs it).

    python scripts/verify_arm64.py [--pages NAME,...] [--profiles P,...] [--no-daemon] [--json OUT]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("EDGE_OCR_REFERENCE", ROOT.parent / "shared" / "reference"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edge-ocr" / "arm64"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,python3-pip,libgl1,libglib2.0-0"
QEMU = "/usr/bin/qemu-aarch64"  # static: copied into the root, where chroot starts it
QEMU_MIN = 9
APP = "/opt/edge-ocr"  # where the board install lives (README, "Deployment to an ARM device")
INSTALLER = ROOT / "scripts" / "install_board.py"  # the board's install step, run there as the README says
# exact required of the default ARM profile; the others are opt-ins whose measured differences are reported
EXACT_REQUIRED = ("arm-onnxruntime",)
DEVICE_TREES = {"raspberrypi,4-model-b": "Raspberry Pi 4", "rockchip,rk3588": "RK3588 board"}
ENV = {"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
       "EDGE_OCR_PROFILES_DIR": f"{APP}/firmware_profiles"}


def log(msg: str) -> None:
    print(f"[arm64] {msg}", file=sys.stderr, flush=True)


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
    return h.hexdigest()[:12]


def need_tools() -> None:
    missing = [t for t in (QEMU, shutil.which("debootstrap"), shutil.which("chroot")) if not t or not Path(t).exists()]
    if missing or os.geteuid() != 0:
        sys.exit("verify-arm64 needs root, debootstrap and qemu-user >= 9: run scripts/install-system-packages.sh "
                 f"(missing: {', '.join(map(str, missing)) or 'root'})")
    version = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.split("version ")[-1]
    if int(version.split(".")[0] or 0) < QEMU_MIN:
        sys.exit(f"{QEMU} is qemu {version.split()[0]}; onnxruntime needs qemu >= {QEMU_MIN} to import under emulation: "
                 "run scripts/install-system-packages.sh (on Debian 12 it installs qemu-user from bookworm-backports)")


def ensure_root() -> Path:
    """The arm64 root filesystem, built once per (suite, packages)."""
    target = CACHE / f"root-{digest(SUITE, PACKAGES)}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="root-", dir=CACHE))
    log(f"debootstrap {SUITE} arm64 (first stage) into {tmp}")
    subprocess.run(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", f"--include={PACKAGES}", SUITE,
                    str(tmp), MIRROR], check=True, stdout=subprocess.DEVNULL)
    for deb in sorted((tmp / "var/cache/apt/archives").glob("*.deb")):  # a foreign first stage only downloads them
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
    (tmp / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def ensure_qemu(root: Path) -> None:
    """The host's qemu inside the root (chroot starts it from there); replaced when the host's changes."""
    inside = root / QEMU.lstrip("/")
    if not inside.exists() or inside.read_bytes() != Path(QEMU).read_bytes():
        shutil.copy2(QEMU, inside)


@contextlib.contextmanager
def mounted(root: Path):
    """/proc, /sys and /dev inside the root while programs run there (ONNX Runtime reads the CPU list)."""
    done = []
    try:
        for m in ("proc", "sys", "dev"):
            (root / m).mkdir(exist_ok=True)
            if os.path.ismount(root / m):  # left by a run that was killed: mounted afresh
                subprocess.run(["umount", "-l", str(root / m)], check=False)
            subprocess.run(["mount", "--bind", f"/{m}", str(root / m)], check=True)
            done.append(root / m)
        yield
    finally:
        for m in reversed(done):
            subprocess.run(["umount", "-l", str(m)], check=False)


def arm(root: Path, *args: str, timeout: float = 3600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """An aarch64 program in the root, through qemu."""
    p = subprocess.run(["chroot", str(root), QEMU, *args], env=ENV, capture_output=True,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise SystemExit(f"under emulation, {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n"
                         f"{p.stderr[-3000:]}")
    return p


def edge(root: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return arm(root, f"{APP}/.venv/bin/python", "-m", "edge", *args, **kw)


def build_wheel(dest: Path) -> Path:
    """edge-ocr's wheel, as the README's build-host step makes it, from a copy of the sources (a build in the
    checkout would leave build/ behind)."""
    src = dest / "src"
    shutil.copytree(ROOT / "edge", src / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(src)], check=True)
    shutil.rmtree(src)
    [wheel] = dest.glob("edge_ocr-*.whl")
    return wheel


def ensure_install(root: Path) -> None:
    """edge-ocr as a board owner installs it: the wheel from the build host, pip in a venv, the board pins."""
    constraints = (ROOT / "constraints" / "runtime.txt").read_bytes()
    lock = (ROOT / "models_mobile" / "build" / "lock.json").read_bytes()
    profiles = b"".join(p.read_bytes() for p in sorted((ROOT / "firmware_profiles").glob("*.toml")))
    sources = b"".join(p.read_bytes() for p in [ROOT / "pyproject.toml", *sorted((ROOT / "edge").rglob("*.py"))])
    key = digest(sources, constraints, INSTALLER.read_bytes(), lock, profiles)  # the wheel's bytes carry build times
    marker = root / APP.lstrip("/") / ".installed"
    if marker.exists() and marker.read_text() == key:
        return
    wheels = Path(tempfile.mkdtemp(prefix="wheels-"))
    try:
        wheel = build_wheel(wheels)
        log("installing edge-ocr into the arm64 root (pip runs under emulation: about 2 minutes)")
        # aarch64 wheels for CPython 3.11, fetched by the (fast) host pip; the board's pip installs them
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "--only-binary=:all:",
                        "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311",
                        *(a for plat in ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_31_aarch64",
                                         "manylinux_2_35_aarch64", "linux_aarch64")  # Debian 12: glibc 2.36
                          for a in ("--platform", plat)),
                        "-c", str(ROOT / "constraints" / "runtime.txt"), f"{wheel}[openvino]"], check=True)
        app = root / APP.lstrip("/")
        shutil.rmtree(app, ignore_errors=True)
        app.mkdir(parents=True)
        shutil.copytree(wheels, app / "wheels")
        for folder in ("firmware_profiles", "constraints"):
            shutil.copytree(ROOT / folder, app / folder)
        shutil.copy2(INSTALLER, app / INSTALLER.name)
        (app / "models").mkdir()
        shutil.copy2(ROOT / "models_mobile" / "manifest.toml", app / "models" / "manifest.toml")
        shutil.copytree(ROOT / "models_mobile" / "build", app / "models" / "build")
        # the README's two board steps; the wheels come from the folder the host filled (pip cannot fetch fast here)
        arm(root, "/usr/bin/python3.11", "-m", "venv", "--without-pip", "--system-site-packages", f"{APP}/.venv")
        p = arm(root, f"{APP}/.venv/bin/python", f"{APP}/{INSTALLER.name}", f"{APP}/wheels/{wheel.name}",
                "--extras", "openvino", "--find-links", f"{APP}/wheels")
        log(" / ".join(line for line in p.stdout.splitlines() if line.startswith(("ok", "FAIL"))))
        marker.write_text(key)
    finally:
        shutil.rmtree(wheels, ignore_errors=True)


def check_doctor(root: Path, config: str) -> dict:
    p = edge(root, "doctor", "--config", config, check=False)
    lines = [line for line in p.stdout.splitlines() if line[:4] in ("ok  ", "FAIL")]
    failed = [line for line in lines if line.startswith("FAIL")]
    if p.returncode != 0 or failed:
        raise SystemExit("doctor under emulation:\n" + p.stdout)
    said = {line.split(None, 2)[1]: line.split(None, 2)[2] for line in lines if len(line.split(None, 2)) == 3}
    return {"checks": len(lines), "python": said.get("python", ""), "engine": said.get("engine", ""),
            "verified": said.get("verified", "")}


def check_detect(root: Path) -> dict:
    out = {}
    for compatible, board in DEVICE_TREES.items():
        tree = root / "tmp" / "compatible"
        tree.parent.mkdir(exist_ok=True)
        tree.write_bytes(compatible.encode() + b"\0")
        p = edge(root, "profiles", "detect", "--device-tree", "/tmp/compatible")
        out[board] = p.stdout.strip()
    return out


def check_ocr(root: Path, pages: list[str], profile: str) -> dict:
    """The pages under emulation on one profile, scored against the official outputs by the reference's score.py."""
    work = root / "tmp" / "ocr"
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    refs = Path(tempfile.mkdtemp(prefix="refs-"))
    for name in pages:
        shutil.copy2(REFERENCE / "images" / name, work / "in" / name)
        for f in (REFERENCE / "paddleocr").glob(f"{Path(name).stem}*_res.json"):
            shutil.copy2(f, refs / f.name)
    t0 = time.perf_counter()
    edge(root, "ocr", "-i", "/tmp/ocr/in", "--save_path", "/tmp/ocr/out", "--profile", profile,
         "--models_dir", f"{APP}/models", "--use_doc_orientation_classify", "False", "--use_doc_unwarping", "False",
         "--use_textline_orientation", "False", "-q")
    seconds = time.perf_counter() - t0
    score = subprocess.run([sys.executable, str(REFERENCE / "score.py"), str(work / "out"), "--ref", str(refs),
                            "--quiet"], capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    differences = []  # each line read otherwise than the official pipeline reads it: the measured cost
    for ref in sorted(refs.glob("*_res.json")):
        got = work / "out" / ref.name
        official = json.loads(ref.read_text())["rec_texts"]
        data = json.loads(got.read_text()) if got.exists() else {}
        read = data.get("res", data).get("rec_texts", [])  # save_to_json nests the result under "res"
        differences += [{"file": ref.name, "line": i, "official": o, "read": r}
                        for i, (o, r) in enumerate(zip(official, read)) if o != r]
    shutil.rmtree(refs)
    metrics = dict(kv.split("=", 1) for kv in score.split()[1:])
    result = {"profile": profile, "pages": int(metrics["pages"]),
              "missing": int(metrics["missing"]), "det_f1": float(metrics["det_f1"]),
              "text_exact": float(metrics["text_exact"]), "page_cer": float(metrics["page_cer"]),
              "seconds_per_page": round(seconds / max(1, int(metrics["pages"])), 1)}
    result["exact"] = (result["missing"], result["det_f1"], result["text_exact"], result["page_cer"]) == (0, 1.0, 1.0, 0.0)
    result["differences"] = differences
    return result


def check_daemon(root: Path, config: str) -> dict:
    """`edge-ocr run` on its folder source: one dropped scan becomes a result file."""
    box = root / "tmp" / "box"
    p = subprocess.Popen(["chroot", str(root), QEMU, f"{APP}/.venv/bin/python", "-m", "edge",
                          "run", "--config", config], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        deadline = time.monotonic() + 900
        (box / "scan").mkdir(parents=True, exist_ok=True)
        shutil.copy2(REFERENCE / "images" / "rapid_short.png", box / "scan" / ".rapid_short.png.part")
        (box / "scan" / ".rapid_short.png.part").rename(box / "scan" / "rapid_short.png")
        result = box / "results" / "rapid_short.json"
        while not result.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the daemon under emulation did not process the scan:\n" + (p.stdout.read() if
                                                                                              p.poll() is not None else ""))
            time.sleep(1)
        answer = json.loads(result.read_text())
        official = json.loads((REFERENCE / "paddleocr" / "rapid_short_res.json").read_text())
        texts = answer["result"]["ocrResults"][0]["prunedResult"]["rec_texts"]
        if answer["errorCode"] != 0 or texts != official["rec_texts"]:
            raise SystemExit(f"the daemon's result under emulation is wrong: {answer.get('errorMsg')} {texts}")
        return {"result": str(result.relative_to(root)), "moved_to_done": (box / "done" / "rapid_short.png").exists(),
                "rec_texts": texts}
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()


def write_config(root: Path) -> str:
    box = "/tmp/box"
    shutil.rmtree(root / box.lstrip("/"), ignore_errors=True)
    (root / box.lstrip("/")).mkdir(parents=True)
    text = (f'profile = "arm-onnxruntime"\nstate_dir = "{box}/state"\nmodels_dir = "{APP}/models"\n'
            f'[folder]\npath = "{box}/scan"\ndone_dir = "{box}/done"\nfailed_dir = "{box}/failed"\n'
            f'settle_seconds = 0.5\n[results]\ndir = "{box}/results"\n[ocr]\nuse_textline_orientation = false\n')
    (root / box.lstrip("/") / "edge-ocr.toml").write_text(text)
    return f"{box}/edge-ocr.toml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", help="reference inputs to read under emulation (comma-separated; default: every "
                                     "reference input, the PDF included: about 25 minutes per profile)")
    ap.add_argument("--profiles", default="arm-onnxruntime,arm-openvino", help="profiles to read them with")
    ap.add_argument("--no-daemon", action="store_true", help="skip the daemon check")
    ap.add_argument("--json", help="write the report here")
    a = ap.parse_args()
    need_tools()
    t0 = time.perf_counter()
    root = ensure_root()
    ensure_qemu(root)
    ensure_install(root)
    setup = round(time.perf_counter() - t0, 1)
    report: dict = {"root": str(root), "setup_seconds": setup}
    with mounted(root):
        config = write_config(root)
        report["doctor"] = check_doctor(root, config)
        report["detect"] = check_detect(root)
        pages = a.pages.split(",") if a.pages else sorted(p.name for p in (REFERENCE / "images").iterdir())
        report["ocr"] = [check_ocr(root, pages, profile) for profile in a.profiles.split(",")]
        if not a.no_daemon:
            report["daemon"] = check_daemon(root, config)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text)
    inexact = [o["profile"] for o in report["ocr"] if not o["exact"]]
    for o in report["ocr"]:
        if not o["exact"]:
            log(f"{o['profile']} is not exact on emulated aarch64: {len(o['differences'])} line(s) differ (see "
                "ocr.differences)" + ("" if o["profile"] in EXACT_REQUIRED else "; it is an opt-in, not a default"))
    if any(name in EXACT_REQUIRED for name in inexact):
        log("FAILED: the default ARM profile must give the official results exactly")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
