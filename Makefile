# Two commands on a fresh machine: `make run` (the main job) and `make test` (all tests).
# Both set themselves up through `make setup`:
#   .venv       the runtime on the newest CPython among 3.13/3.12/3.11 (numpy 2, ONNX Runtime, OpenVINO)
#   .venv-lite  CPython 3.10 with the Paddle Lite extra (x86 wheels exist for 3.8/3.10 only, numpy<2): it builds
#               the models (paddle_lite_opt), runs `models verify` and the Paddle Lite tests
# Versions the results depend on are pinned in constraints/; models are cached under ~/.cache/edge-ocr.
SHELL := /bin/bash
VENV := .venv
LITE := .venv-lite
EDGE := $(VENV)/bin/edge-ocr
PIP := -m pip install --disable-pip-version-check -q
REFERENCE ?= $(abspath ../shared/reference)

.PHONY: setup models run test verify verify-arm64 verify-npu bench bench-peer clean

setup: $(VENV)/.installed $(LITE)/.installed models

# $(1): venv dir, $(2): find-python.sh arguments, $(3): extras, $(4): constraints file
define make_venv
	@py="$$(scripts/find-python.sh $(2))" || exit 1; \
	want="$$("$$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
	if [ ! -x $(1)/bin/python ] || [ "$$($(1)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$$want" ]; then \
	  echo "creating $(1) with $$py ($$want)"; rm -rf $(1); "$$py" -m venv $(1) || exit 1; fi
	$(1)/bin/python $(PIP) -c $(4) -e ".[$(3)]"
	@touch $@
endef

$(VENV)/.installed: pyproject.toml constraints/runtime.txt
	$(call make_venv,$(VENV),EDGE_OCR_PYTHON 3.13 3.12 3.11,openvino$(comma)test,constraints/runtime.txt)

$(LITE)/.installed: pyproject.toml constraints/paddlelite.txt
	$(call make_venv,$(LITE),EDGE_OCR_LITE_PYTHON 3.10,paddlelite$(comma)openvino$(comma)test,constraints/paddlelite.txt)

comma := ,

# paddle_lite_opt (the .nb converter) ships with the Paddle Lite wheel, so the build host is the Lite environment.
models: $(LITE)/.installed
	$(LITE)/bin/edge-ocr models build

run: setup
	$(EDGE) run

# Every test: the runtime's in .venv, the Paddle Lite ones (marked `paddlelite`) in .venv-lite.
test: setup
	$(VENV)/bin/python -m pytest -q -rs --durations=10 -m "not paddlelite" $(PYTEST_ARGS)
	$(LITE)/bin/python -m pytest -q -rs --durations=10 -m paddlelite $(PYTEST_ARGS)

verify: setup
	$(LITE)/bin/edge-ocr models verify --reference $(REFERENCE)

# edge-ocr installed the board's way into an emulated Debian 12 arm64 root (qemu-user, cached under
# ~/.cache/edge-ocr/arm64) and run there: doctor, profile detection, OCR scored against the official outputs, the
# daemon. Needs root and scripts/install-system-packages.sh (qemu-user >= 9, debootstrap).
verify-arm64: setup
	$(VENV)/bin/python scripts/verify_arm64.py --json verify-arm64.json

# Every NPU build (models_mobile/npu.toml) made and run on this host the most faithful way its toolkit allows (RKNN:
# rknn-toolkit2's simulator; NNAdapter: the int8 Paddle programs in Paddle inference) on the reference set: fidelity
# per model and end to end against the official outputs and fp32 ONNX, on the held-out inputs. The RKNN toolkit's
# environment (rknn-toolkit2, torch CPU; CPython 3.11) is created once under ~/.cache/edge-ocr/tools. Reports in
# verify-npu/.
# About an hour on a fresh 2-core machine: 12-15 minutes an RKNN SoC (the detector's KL calibration runs twice: in the
# build, and in the simulator's rebuild), 10 for NNAdapter.
NPU_TARGETS ?= nnadapter rknn-rk3588 rknn-rk3576 rknn-rk3566 rknn-rk3568
verify-npu: setup
	@mkdir -p verify-npu
	@for t in $(NPU_TARGETS); do \
	  $(LITE)/bin/edge-ocr models build --target $$t --reference $(REFERENCE) || exit 1; \
	  $(LITE)/bin/edge-ocr models verify --target $$t --reference $(REFERENCE) --json verify-npu/$$t.json || exit 1; \
	done

bench: setup
	$(EDGE) bench $(REFERENCE)/images --repeat 2 --engine-python paddlelite=$(abspath $(LITE))/bin/python

# edge-ocr (the detected profile) against the official PaddleOCR pipeline, in one run (the peer's tool environment is
# created once under ~/.cache/edge-ocr/tools); BENCH_INPUTS may name any folder of images and PDFs.
BENCH_INPUTS ?= $(REFERENCE)/images
bench-peer: setup
	$(EDGE) bench $(BENCH_INPUTS) --peer paddleocr --runs 3 --repeat 2 --json bench-peer.json

clean:
	rm -rf $(VENV) $(LITE) models_mobile/build
