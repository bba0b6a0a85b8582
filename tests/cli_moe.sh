#!/usr/bin/env bash
# longctx info, run, eval and serve on the tiny routed-expert models (Qwen3-MoE and Mixtral, each as
# a Hugging Face folder and as llama.cpp's converter writes its GGUF): info shows the experts, a
# greedy run gives the same text from the folder and the GGUF, a server's greedy completion is the
# run's text, and an eval runs two attention policies to its table.
#   tests/cli_moe.sh LONGCTX MODELS_DIR OUT_DIR
set -euo pipefail
longctx=$1 models=$2 out=$3
rm -rf "$out" && mkdir -p "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }
for model in tiny-qwen3moe tiny-mixtral; do
  texts=()
  for file in "$model" "$model.gguf"; do
    path=$models/tiny/$file
    [ -e "$path" ] || fail "$path is missing: run scripts/setup"
    "$longctx" info "$path" >"$out/$file.info.txt"
    grep -q '^experts: .* used per token' "$out/$file.info.txt" || fail "$file: info shows no experts"
    text=$("$longctx" run -m "$path" -p "The river" -n 6 --temp 0 -t 2 2>/dev/null)
    [ -n "$text" ] || fail "$file: run printed nothing"
    texts+=("$text")
    "$longctx" eval passkey -m "$path" --lengths 200 --samples 2 --attn dense,h2o:budget=64 -t 2 \
      --chat-template none -o "$out/$file" >"$out/$file.eval.txt" 2>&1 ||
      fail "$file: eval failed: $(tail -3 "$out/$file.eval.txt")"
    grep -q 'h2o:budget=64' "$out/$file.eval.txt" || fail "$file: eval table lacks the h2o row"
    # A server on any free port; its greedy completion of the same prompt is the run's text.
    "$longctx" serve -m "$path" --port 0 -t 2 >"$out/$file.serve.txt" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q 'listening on' "$out/$file.serve.txt" && break; sleep 0.1; done
    url=$(grep -o 'http://[0-9.:]*' "$out/$file.serve.txt" | head -1)
    [ -n "$url" ] || { kill $pid; fail "$file: serve did not start: $(cat "$out/$file.serve.txt")"; }
    served=$(python3 - "$url" <<'PY' || true
import json, sys, urllib.request
body = json.dumps({"prompt": "The river", "max_tokens": 6, "temperature": 0}).encode()
req = urllib.request.Request(sys.argv[1] + "/v1/completions", body, {"Content-Type": "application/json"})
print(json.loads(urllib.request.urlopen(req, timeout=60).read())["choices"][0]["text"])
PY
)
    kill $pid
    wait $pid 2>/dev/null || true
    [ "$served" = "$text" ] || fail "$file: serve gave '$served', run '$text'"
    echo "ok $file: run and serve '$text'"
  done
  [ "${texts[0]}" = "${texts[1]}" ] || fail "$model: folder '${texts[0]}', GGUF '${texts[1]}'"
done
echo "all ok"
