#!/usr/bin/env bash
# The test command (README): fetch offline assets, build everything, run the xunit suite, and end
# with one plain line "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash build/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
dotnet build SmVL.sln -c Release -nologo -v q 2>&1 | grep -E "error|Marked|Warn|Error" | grep -v "warning NU1603" || true
log="$(mktemp)"
# A test that hangs is stopped after 40 minutes (the longest, the main job's seeing test, takes ~15): the run then
# ends with its counts instead of running into CI's limit.
dotnet test tests/SmVL.Tests.csproj -c Release --no-build -nologo --logger "console;verbosity=normal" --blame --blame-hang-timeout 40m --blame-hang-dump-type none "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -oE "Passed: +[0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
failed=$(grep -oE "Failed: +[0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo 0)
[ -z "$passed" ] && passed=0; [ -z "$failed" ] && failed=0
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # build or runner failure
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ]
