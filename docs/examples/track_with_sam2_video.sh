#!/bin/bash
# Tracks the listed videos of a DAVIS-layout dataset with `sam2 video` (objects 1..K of the first frame's
# annotation prompted by their masks, then one propagation) and scores the masks with `sam2 eval`.
# usage: track_with_sam2_video.sh CHECKPOINT CONFIG DATASET LIST OUT [K]   (sam2 on PATH, or set SAM2)
set -euo pipefail
ck=$1; config=$2; data=$3; list=$4; out=$5; k=${6:-2}
sam2=${SAM2:-sam2}
mkdir -p "$out/steps" "$out/masks"
while read -r v; do
  [ -z "$v" ] && continue
  ann="$data/Annotations/$v/00000.png"
  { echo '{"steps": ['
    for id in $(seq 1 "$k"); do
      echo "  {\"op\": \"add_mask\", \"frame\": 0, \"obj_id\": $id, \"mask\": \"$ann\", \"mask_value\": $id},"
    done
    echo '  {"op": "propagate"}'
    echo ']}'; } > "$out/steps/$v.json"
  $sam2 video --checkpoint "$ck" --config "$config" --input "$data/JPEGImages/$v" --prompts "$out/steps/$v.json" \
    --output "$out/masks/$v" --non-overlap-masks > /dev/null
done < "$list"
$sam2 eval --gt-root "$data/Annotations" --pred-root "$out/masks" | grep -E "J&F:"
