#!/usr/bin/env bash
# Builds the solution and runs every test; ends with the line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet test Sam2Sharp.slnx -c Release 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E "(Passed|Failed)!? +- +Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+" "$log" | tail -1)
if [ -n "$line" ]; then
  f=$(sed -E 's/.*Failed: +([0-9]+),.*/\1/' <<<"$line")
  p=$(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$line")
  s=$(sed -E 's/.*Skipped: +([0-9]+),.*/\1/' <<<"$line")
  echo "$p passed, $f failed, $s skipped"
fi
rm -f "$log"
exit "$rc"
