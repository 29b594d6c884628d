#!/bin/bash
# On the GPU machine (device tool), from the tree's root: the runs of issues 13 and 18.
#   bash bench/gpu_run.sh encode|product|e2e|levers|builds|host|gil|shards|compaction|all|-- CMD...
# encode (~6 min) and builds (= e2e + levers, ~6 min) fit one device call each; all (~12 min) is both at once,
# builds first (outputs land in $OUT as they are made, so a call cut at its limit keeps what finished).
# Unpacks .device/site.tar.xz (bench/gpu_carry.sh) to /tmp/site once per machine; outputs go to $OUT.
cd "$(dirname "$0")/.." || exit 1
if [ ! -d /tmp/site/pymilvus ]; then
  python3 -c "import tarfile; tarfile.open('.device/site.tar.xz').extractall('/tmp/site', filter='tar')" || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/env.txt"
python3 -c "import torch, transformers, pymupdf, pymilvus; print(torch.__version__, transformers.__version__,
pymupdf.__version__, pymilvus.__version__)" | tee -a "$OUT/env.txt"
encode() {
  python3 bench/gpu.py --backends v1 --modes product,base --encode sdpa,folded --decode static --iters 3 \
    --check --compile-product 2>&1 | tee "$OUT/gpu.txt"
  python3 bench/gpu_profile.py --prefill --ops 12 --iters 5 2>&1 | tee "$OUT/prefill.txt"
  # where a Base batch's time goes: SDPA, folded, compiled (last: its first call compiles for ~1 min)
  python3 bench/gpu_profile.py --batch 32 --iters 5 --ops 15 2>&1 | tee "$OUT/encode-profile.txt"
}
e2e() {
  python3 bench/e2e_gpu.py --pages 2000 --answers 50 --workers 12 --json-out "$OUT/e2e.json" \
    --record "$OUT/bench-e2e.md" 2>&1 | tee "$OUT/e2e.txt"
}
product() {  # the product's encode path (3 ways of calling it, eager and compiled) and its compiled profile
  python3 bench/gpu.py --backends v1 --modes product --encode folded --decode "" --iters 3 --compile-product \
    2>&1 | tee "$OUT/gpu-product.txt"
  python3 bench/gpu_profile.py --batch 32 --iters 5 --ops 15 2>&1 | tee "$OUT/encode-profile.txt"
}
levers() {  # the build again (same corpus and weights): compiled encoder, 4 writer threads
  python3 bench/e2e_gpu.py --pages 2000 --workers 12 --steps build --compile --write-threads 4 \
    --json-out "$OUT/e2e-levers.json" 2>&1 | tee "$OUT/e2e-levers.txt"
}
host() {  # the host's share on this machine's 16 cores: token-writer processes vs threads (no GPU used)
  python3 bench/token_writes.py --batches 16 --batch-pages 64 --threads 4,8 --processes 0,4,8 2>&1 |
    tee "$OUT/token-writes.txt"
  python3 bench/build_host.py --pages 1920 --batch-pages 64 --device-ms 3.3 --write-threads 4 \
    --write-processes 0,4,8 --extracted 2>&1 | tee "$OUT/build-host.txt"
  # the same with real extraction workers sending their views through shared memory, as in the e2e
  python3 bench/build_host.py --pages 1920 --batch-pages 64 --device-ms 3.3 --write-threads 4 \
    --workers 12 2>&1 | tee "$OUT/build-host-extract.txt"
}
gil() {  # who holds the compiled build's GIL after its first batch (py-spy, carried as .device/py-spy.xz)
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.device/py-spy.xz'), open('/tmp/py-spy', 'wb'))" &&
    chmod +x /tmp/py-spy || return 1
  python3 bench/e2e_gpu.py --pages 2000 --workers 12 --steps build --compile --write-threads 4 \
    --gil-profile "$OUT/e2e-gil.raw" --py-spy /tmp/py-spy --json-out "$OUT/e2e-gil.json" 2>&1 | tee "$OUT/e2e-gil.txt"
  python3 bench/gil_top.py "$OUT/e2e-gil.raw" --rate 100 --top 25 | tee "$OUT/gil-top.txt"
}
shards() {  # the compiled build as 2 shard processes sharing the GPU (each its own interpreter and writers)
  python3 bench/e2e_gpu.py --pages 2000 --workers 12 --steps build --compile --write-threads 4 --processes 2 \
    --json-out "$OUT/e2e-shards.json" 2>&1 | tee "$OUT/e2e-shards.txt"
}
compaction() {
  python3 bench/compaction.py --pages 1000 --device cuda --record "$OUT/bench-compact.md" 2>&1 |
    tee "$OUT/compact.txt"
}
case "${1:-}" in
  encode) encode ;;
  e2e) e2e ;;
  levers) levers ;;
  product) product ;;
  builds) e2e && levers ;;
  compaction) compaction ;;
  host) host ;;
  gil) gil ;;
  shards) shards ;;
  all) e2e; levers; encode ;;  # the builds first: a call cut at its time limit still brings them back
  --) shift && "$@" 2>&1 | tee "$OUT/cmd.txt" ;;
  *) echo "usage: gpu_run.sh encode|product|e2e|levers|builds|host|gil|shards|compaction|all|-- CMD..." >&2 && exit 2 ;;
esac
