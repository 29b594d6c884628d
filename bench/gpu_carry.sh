#!/bin/bash
# The product's packages the GPU machine's image lacks, as one archive to carry with a device call:
#   bench/gpu_carry.sh            # writes .device/site.tar.xz (~57 MB; .device/ is git-ignored)
# The image (docs/BENCHMARKS.md) has torch, transformers, numpy, grpcio, protobuf, pandas, onnxruntime, typer,
# rich and click; this adds the rest at the lock's versions, except pymupdf 1.27.1 (the locked 2.0 wheel is
# 69 MB). A device call names `.device/site.tar.xz` in carry and runs `bash bench/gpu_run.sh NAME` (see
# there); the shipped reader (decoder/readers/, 44 MB) must be moved out
# of the tree for the call, or tree + archive exceed the 64 MiB a call may carry.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device
rm -rf "$out/wheels" "$out/site" && mkdir -p "$out/wheels"
pin() { grep -m1 "^$1==" requirements.lock | cut -d' ' -f1; }
wanted=(pymupdf==1.27.1)
for name in pymilvus milvus-lite fastapi starlette uvicorn orjson python-multipart sse-starlette cachetools \
  opentelemetry-api pydantic pydantic-core pydantic-settings python-dotenv typing-inspection annotated-types \
  pybase64 zstandard; do
  wanted+=("$(pin "$name")")
done
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$out/wheels" "${wanted[@]}"
python3 -m pip install -q --no-deps --no-compile --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" --target "$out/site" "$out"/wheels/*.whl
# Not needed at run time: zstandard's cffi backend (the C one is used), MuPDF's headers, type stubs.
rm -f "$out"/site/zstandard/_cffi*.so && rm -rf "$out/site/pymupdf/mupdf-devel"
find "$out/site" -name '*.pyi' -delete
tar cf - -C "$out/site" . | xz -9e -T0 > "$out/site.tar.xz"
ls -l "$out/site.tar.xz"
