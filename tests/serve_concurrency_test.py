#!/usr/bin/env python3
"""`longctx serve` under many clients at once, the way evaluation harnesses drive it
(lm-evaluation-harness with num_concurrent > 1, RULER's threaded client): every response is
checked against the answer known beforehand.

For three real vocabularies on tiny random-weight models (tests/fixtures/hf_tiny.json; the compute
is negligible, the tokenizers are the real ones): SmolLM2's byte-level BPE, Qwen2.5's byte-level BPE
with config.json's padded vocabulary (151936 rows for 151665 tokens), and Gemma 3's SentencePiece.
  1. Serially, each of 32 distinct prompts (a quarter of them ~10k tokens) gives its greedy
     completion with echo; the echo must be the prompt itself. These are the known answers.
  2. 32 clients at once, `rounds` times, each request in another order: every response must equal
     its known answer (text, prompt and completion token counts), and report 1 compute thread
     per request (serve -t 1).
  3. The padded vocabulary: echo logprobs of a token-id prompt equal transformers' log-softmax
     (fixture), i.e. logits are read at the model's row width, not the tokenizer's.
Then, on one server: /health stays answered within 2 s while 24 slow clients trickle their headers
(a slowloris), and 64 simultaneous connections are all answered within 1 s (no SYN retries).
Under ThreadSanitizer (--tsan): any report in the server's output fails the test.

usage: serve_concurrency_test.py LONGCTX [--rounds N] [--tsan] [--models DIR]
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
args = argparse.ArgumentParser()
args.add_argument("longctx")
args.add_argument("--rounds", type=int, default=3)
args.add_argument("--tsan", action="store_true", help="the binary is built with ThreadSanitizer")
args.add_argument("--models", default=os.environ.get("LONGCTX_MODELS") or
                  os.path.expanduser("~/.cache/longctx/models"))
opt = args.parse_args()
TINY = Path(opt.models) / "tiny"
FIXTURE = json.loads((ROOT / "tests/fixtures/hf_tiny.json").read_text())["models"]
failures = []


def check(cond, what):
    if not cond:
        print("FAIL " + what, flush=True)
        failures.append(what)
    return cond


class Server:
    def __init__(self, model, *extra):
        env = dict(os.environ)
        if opt.tsan:  # one OpenMP thread per request: libgomp's own barriers are not instrumented
            env["OMP_NUM_THREADS"] = "1"
            env["TSAN_OPTIONS"] = ("second_deadlock_stack=1 history_size=4 suppressions="
                                   + str(ROOT / "tests/tsan.supp"))
        self.proc = subprocess.Popen([opt.longctx, "serve", "-m", str(model), "--port", "0",
                                      "--parallel", "4", "-t", "1", "-c", "16384", *extra],
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.log, self.port = [], None
        ready = threading.Event()

        def drain():  # keeps reading, so a chatty server never blocks on a full pipe
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(timeout=600)
        if not self.port:
            raise SystemExit("the server did not start:\n" + "".join(self.log))

    def post(self, path, body, timeout=600):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"HTTP {e.code}: {e.read()[:300]!r}") from None

    def health(self, timeout=30):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=timeout) as r:
            return r.status

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        time.sleep(0.2)
        return "".join(self.log)


def tsan_report(log):
    """The sanitizer's reports in a server's output (the first ones whole)."""
    start = log.find("WARNING: ThreadSanitizer")
    return log[max(0, start - 200):start + 20000]


def prompts(n, long_words):
    """Distinct texts; every fourth `long_words` words long (2800: ~20 KB, about 10k tokens), the
    rest short."""
    words = ["needle", "haystack", " Paris", "1234567", "naïve", "東京", "🦙", "\n\n", "x = f(y);",
             "don't", "ÉCOLE", "3.14159", "Zürich", "  indent", "CamelCase", "the", "of", "and"]
    out = []
    for i in range(n):
        count = long_words if i % 4 == 0 else 20 + 7 * i
        out.append(f"Document {i}: " + " ".join(words[(i * 7 + k * k) % len(words)] for k in range(count)))
    return out


def completion(server, prompt):
    r = server.post("/v1/completions", {"prompt": prompt, "max_tokens": 3, "temperature": 0,
                                        "echo": True})
    return {"text": r["choices"][0]["text"], "usage": r["usage"], "threads": r["longctx"]["threads"]}


def run_model(name):
    server = Server(TINY / name)
    try:
        # Under ThreadSanitizer (5-15x slower) the long prompts are ~2.5k tokens: races do not
        # need 10k-token prefills, only requests that overlap.
        texts = prompts(32, 700 if opt.tsan else 2800)
        known = []
        for t in texts:  # 1. the answers, one client at a time
            a = completion(server, t)
            # The echo is the prompt's tokens decoded, Gemma's BOS (a token the model reads) included.
            echo = a["text"].removeprefix("<bos>")
            check(echo.startswith(t), f"{name}: the echo of a {len(t)}-byte prompt is the prompt")
            check(a["threads"] == 1, f"{name}: a request computes with -t 1 thread, not {a['threads']}")
            known.append(a)
        print(f"{name}: {len(known)} known answers, prompts of "
              f"{min(a['usage']['prompt_tokens'] for a in known)}-"
              f"{max(a['usage']['prompt_tokens'] for a in known)} tokens", flush=True)
        for rnd in range(opt.rounds):  # 2. all at once
            wrong, errors = [], []

            def client(c):
                for k in range(2):
                    i = (c * 5 + k * 11 + rnd) % len(texts)
                    try:
                        got = completion(server, texts[i])
                        if got != known[i]:
                            wrong.append((i, got["usage"], known[i]["usage"]))
                    except Exception as e:  # a 500, a reset connection, a dead server
                        errors.append(repr(e))

            threads = [threading.Thread(target=client, args=(c,)) for c in range(32)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            check(not errors, f"{name} round {rnd}: {len(errors)} of 64 requests failed: {errors[:2]}")
            check(not wrong, f"{name} round {rnd}: {len(wrong)} of 64 responses differ from the known "
                             f"answer (usage got/expected: {wrong[:2]})")
            print(f"{name}: round {rnd + 1}/{opt.rounds}: 64 concurrent responses checked", flush=True)
        if name == "tiny-qwen2-padded":  # 3. logits rows at the model's width
            fx = FIXTURE[name]
            r = server.post("/v1/completions", {"prompt": fx["ids"], "max_tokens": 0, "echo": True,
                                                "logprobs": 0})
            ours = r["choices"][0]["logprobs"]["token_logprobs"][1:]
            worst = max(abs(a - b) for a, b in zip(ours, fx["token_logprobs"]))
            check(len(ours) == len(fx["token_logprobs"]) and worst < 0.02,
                  f"{name}: echo logprobs equal transformers' (largest difference {worst:.4f} nats)")
            print(f"{name}: echo logprobs against transformers: largest difference {worst:.5f}")
    finally:
        log = server.stop()
    check("ThreadSanitizer" not in log, f"{name}: ThreadSanitizer reported:\n{tsan_report(log)}")
    check(server.proc.returncode in (0, -15), f"{name}: the server ended with {server.proc.returncode}")


def slow_clients_and_bursts():
    server = Server(TINY / "tiny-llama")
    try:
        stop = threading.Event()
        slow = []
        for _ in range(24):  # a slowloris: headers that never end, one line a second
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)

        def trickle():
            n = 0
            while not stop.is_set():
                for s in slow:
                    try:
                        s.sendall(f"X-Slow-{n}: 1\r\n".encode())
                    except OSError:
                        pass
                n += 1
                stop.wait(1.0)

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.5)
        worst = 0.0
        for _ in range(5):
            start = time.monotonic()
            try:
                ok = server.health(timeout=10) == 200
            except Exception:  # a timeout: no worker was free
                ok = False
            worst = max(worst, time.monotonic() - start)
            check(ok, "/health answers during a slowloris")
            time.sleep(0.5)
        check(worst < 2.0, f"/health within 2 s while 24 clients trickle headers (slowest {worst:.2f} s)")
        print(f"slowloris: /health answered in at most {worst:.3f} s")
        stop.set()
        for s in slow:
            s.close()
        latencies, errors = [], []
        barrier = threading.Barrier(64)

        def connect():
            barrier.wait()
            start = time.monotonic()
            try:
                server.health(timeout=10)
                latencies.append(time.monotonic() - start)
            except Exception as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=connect) for _ in range(64)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        slowest = max(latencies) if latencies else float("inf")
        check(not errors and slowest < 1.0,
              f"64 simultaneous connections answered within 1 s (slowest {slowest:.3f} s, {len(errors)} failed)")
        print(f"burst: 64 connections, slowest answered in {slowest:.3f} s")
    finally:
        log = server.stop()
    check("ThreadSanitizer" not in log, f"ThreadSanitizer reported:\n{tsan_report(log)}")


for name in ["tiny-llama", "tiny-qwen2-padded", "tiny-gemma3"]:
    if not (TINY / name / "model.safetensors").exists():
        print(f"{TINY / name} is missing: run scripts/setup")
        sys.exit(1)
    run_model(name)
slow_clients_and_bursts()
print("all checks passed" if not failures else f"{len(failures)} checks failed")
sys.exit(1 if failures else 0)
