#!/usr/bin/env bash
# Prints every figure that docs/performance.md and the README carry, each command before its output.
# Run it on a quiet machine (nothing else running): the timings are medians on this machine's cores.
#   bash scripts/bench-figures.sh                 # everything (about 1.5 h on 2 vCPUs)
#   bash scripts/bench-figures.sh image amg video memory agreement   # or any of these parts
# Random weights unless SAM2_CHECKPOINT is set (speed does not depend on the weights).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${SAM2_BENCH_DIR:-/tmp/sam2bench}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(image amg video memory agreement)
ckpt=()
[ -n "${SAM2_CHECKPOINT:-}" ] && ckpt=(--checkpoint "$SAM2_CHECKPOINT")
video=../shared/samples/videos/bedroom
micro=../shared/golden/sam2.1-micro

run() { echo "\$ $*"; "$@"; echo; }

echo "\$ dotnet publish src/Sam2Sharp.Cli -c Release -o $out"
dotnet publish src/Sam2Sharp.Cli -c Release -o "$out" > /dev/null
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
echo

for part in "${parts[@]}"; do
  case "$part" in
    image)   # peaks, encoder and decoder (one point; a batch of 64 as the automatic mask generator decodes) with their fraction of peak, and the per-module profile
      for p in fp32 bf16; do run "$out/sam2" bench --config sam2.1_hiera_t "${ckpt[@]}" --precision $p --runs 5 --decoder-batch 64 --profile; done ;;
    amg)     # automatic masks at the default thresholds and keeping everything, with the generator's stages
      for p in fp32 bf16; do run "$out/sam2" bench --config sam2.1_hiera_t "${ckpt[@]}" --precision $p --runs 1 --amg --amg-keep-all --profile; done ;;
    video)   # tracking 1/2/4/8 objects over 20 frames (the memory bank is full from frame 16), per-module profile for one object
      for p in fp32 bf16; do
        run "$out/sam2" bench-video --config sam2.1_hiera_t "${ckpt[@]}" --precision $p --video $video --frames 20 --objects 1 --report-every 10 --profile
        for k in 2 4 8; do run "$out/sam2" bench-video --config sam2.1_hiera_t "${ckpt[@]}" --precision $p --video $video --frames 20 --objects $k --report-every 10; done
      done ;;
    memory)  # peak memory over a long video (the micro model: same structure, image size 256)
      for p in fp32 bf16; do
        run "$out/sam2" bench-video --config $micro/config.yaml --checkpoint $micro/model.pt --precision $p --video $video --frames 600 --objects 2 --report-every 100
      done ;;
    agreement)  # bf16 against the float32 goldens: mask IoU, logits error, flipped decisions per case
      echo "\$ dotnet test tests/Sam2Sharp.Tests -c Release --filter FullyQualifiedName~PrecisionAgreement --logger 'console;verbosity=detailed' | grep bf16_agreement"
      dotnet test tests/Sam2Sharp.Tests -c Release --filter FullyQualifiedName~PrecisionAgreement --logger 'console;verbosity=detailed' | grep bf16_agreement | sed 's/^ *//'
      echo ;;
    *) echo "unknown part $part (image, amg, video, memory, agreement)" >&2; exit 2 ;;
  esac
done
