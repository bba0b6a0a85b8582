#!/usr/bin/env python3
"""`longctx serve` driven by real clients: OpenAI's own Python package and curl.

Starts the server on a free port with the small real model and checks: greedy completions and
chat equal `longctx run` on the same prompt; streaming deltas add up to the whole answer; echo
logprobs agree with the logprobs of the same token generated from its prefix; an attention mode
per request is used and reported; stop sequences cut; bad requests get 400 with the field named
and a burst of them leaves the server serving; an oversized body gets 413, a missing key 401;
queued requests are all served; a streaming client that disconnects frees its session.

usage: serve_client_test.py LONGCTX [MODEL]      (exit 77: skipped, with the reason)
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

try:
    import openai
except ImportError as e:  # scripts/setup installs it; without the package index it cannot
    print(f"SKIP: the openai package is not installed ({e})")
    sys.exit(77)

LONGCTX = sys.argv[1]
MODEL = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.environ.get("LONGCTX_MODELS") or os.path.expanduser("~/.cache/longctx/models"),
    "SmolLM2-135M-Instruct.Q4_1.gguf")
KEY = "test-key-123"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run_cli(*args):
    out = subprocess.run([LONGCTX, "run", "-m", MODEL, "-t", "2", *args], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout[:-1]  # run ends the continuation with a newline


server = subprocess.Popen([LONGCTX, "serve", "-m", MODEL, "--port", "0", "-t", "2", "-c", "2048",
                           "--api-key", KEY, "--max-body-mib", "1"],
                          stderr=subprocess.PIPE, text=True)
try:
    port = None
    for line in server.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    assert port, "the server did not start"
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=300)
    model = client.models.list().data[0].id
    check(model == MODEL.rsplit("/", 1)[-1], f"/v1/models names the model ({model})")

    # Greedy completions and chat: the same continuation as `longctx run`.
    prompt = "The three primary colours are"
    c = client.completions.create(model=model, prompt=prompt, max_tokens=24, temperature=0)
    cli = run_cli("-p", prompt, "-n", "24", "--temp", "0")
    check(c.choices[0].text == cli, f"completion equals longctx run: {c.choices[0].text!r}")
    check(c.usage.completion_tokens == 24 and c.choices[0].finish_reason == "length",
          "usage and finish_reason 'length'")
    question = "Name two planets of the solar system."
    chat = client.chat.completions.create(model=model, temperature=0, max_tokens=24,
                                          messages=[{"role": "user", "content": question}])
    cli = run_cli("--chat", "-p", question, "-n", "24", "--temp", "0")
    check(chat.choices[0].message.content == cli,
          f"chat equals longctx run --chat: {chat.choices[0].message.content!r}")
    check(chat.model_extra["longctx"]["attention"] == "dense", "the mode used is reported")

    # Streaming: the deltas add up to the non-streamed answer.
    parts, finish = [], None
    for chunk in client.chat.completions.create(model=model, temperature=0, max_tokens=24, stream=True,
                                                messages=[{"role": "user", "content": question}]):
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    check("".join(parts) == chat.choices[0].message.content and len(parts) > 5,
          f"streamed chat equals the whole answer ({len(parts)} chunks)")
    check(finish == "length", "the last chunk carries finish_reason")

    # Stop sequences: cut before the stop, finish_reason 'stop'.
    full = client.completions.create(model=model, prompt=prompt, max_tokens=24, temperature=0)
    text = full.choices[0].text
    stop = text.split()[3]
    s = client.completions.create(model=model, prompt=prompt, max_tokens=24, temperature=0, stop=[stop])
    check(s.choices[0].text == text[:text.index(stop)] and s.choices[0].finish_reason == "stop",
          f"stop {stop!r} cuts the text: {s.choices[0].text!r}")

    # Echo logprobs (lm-evaluation-harness's loglikelihood request): token k's logprob equals the
    # one reported for it when it is generated from tokens [0, k).
    ids = json.loads(subprocess.run([LONGCTX, "tokenize", "-m", MODEL, "--ids",
                                     "The capital of France is Paris."],
                                    capture_output=True, text=True, check=True).stdout)
    e = client.completions.create(model=model, prompt=ids, max_tokens=1, temperature=0, echo=True,
                                  logprobs=1)
    lp = e.choices[0].logprobs
    check(len(lp.tokens) == len(ids) + 1 and lp.token_logprobs[0] is None,
          "echo: every prompt token and the generated one, the first without a logprob")
    check(all(x <= 0 for x in lp.token_logprobs[1:]), "logprobs are log-probabilities")
    greedy_top = max(lp.top_logprobs[-1], key=lp.top_logprobs[-1].get)
    check(greedy_top == lp.tokens[-1], "the greedy token is its own top alternative")
    worst = 0.0
    for k in (3, 5, 6):  # France | The capital of; Paris | ... is; . | ... Paris: in the top 20
        g = client.completions.create(model=model, prompt=ids[:k], max_tokens=1, temperature=0,
                                      logprobs=20)
        top = g.choices[0].logprobs.top_logprobs[0]
        piece = lp.tokens[k]
        if piece in top:
            worst = max(worst, abs(top[piece] - lp.token_logprobs[k]))
        else:
            worst = float("inf")
    check(worst < 2e-3, f"echo logprobs agree with generation from the prefix (|diff| {worst:.2e})")

    # An attention mode per request, reported, with the KV memory it held.
    long_q = "Repeat after me. " + "The sky is blue and the grass is green. " * 40 + "What colour is the sky?"
    dense = client.chat.completions.create(model=model, temperature=0, max_tokens=4,
                                           messages=[{"role": "user", "content": long_q}])
    win = client.chat.completions.create(model=model, temperature=0, max_tokens=4,
                                         messages=[{"role": "user", "content": long_q}],
                                         extra_body={"attention": "streaming:window=64,prefill=windowed"})
    ext = win.model_extra["longctx"]
    check(ext["attention"] == "streaming:window=64,prefill=windowed",
          f"the requested mode is used: {ext['attention']}")
    check(ext["kv_held_bytes"] < dense.model_extra["longctx"]["kv_held_bytes"] / 3,
          f"a 64-token window holds less KV ({ext['kv_held_bytes']} vs "
          f"{dense.model_extra['longctx']['kv_held_bytes']} bytes)")

    # Bad requests: 400 naming the field, through the client and raw.
    def bad(kwargs, param):
        try:
            client.completions.create(model=model, **kwargs)
        except openai.BadRequestError as err:
            body = err.body if isinstance(err.body, dict) else {}
            return body.get("param") == param
        return False
    check(bad({"prompt": "x", "max_tokens": -1}, "max_tokens"), "max_tokens -1: 400 naming it")
    check(bad({"prompt": "x", "max_tokens": 5000}, "max_tokens"), "max_tokens past the context: 400")
    check(bad({"prompt": "x", "temperature": "hot"}, "temperature"), "temperature as text: 400")
    check(bad({"prompt": "x", "extra_body": {"attention": "magic"}}, "attention"),
          "an unknown attention mode: 400 naming 'attention'")
    check(bad({"prompt": "word " * 3000}, "prompt"), "a prompt longer than the context: 400")
    check(bad({"prompt": "x", "n": 2}, "n"), "n = 2 (not implemented): 400, not ignored")
    check(bad({"prompt": [1, -5]}, "prompt"), "a token id outside the vocabulary: 400")

    def raw(path, body, key=KEY, method="POST"):
        req = urllib.request.Request(base + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")
    st, body = raw("/v1/completions", b"{not json")
    check(st == 400 and "not JSON" in body["error"]["message"], "malformed JSON: 400")
    st, body = raw("/v1/chat/completions", json.dumps({"messages": "hi"}).encode())
    check(st == 400 and body["error"]["param"] == "messages", "messages not a list: 400")
    st, _ = raw("/v1/completions", json.dumps({"prompt": "x"}).encode(), key=None)
    check(st == 401, "no API key: 401")
    st, body = raw("/v1/completions", b'{"prompt": "' + b"a" * (2 << 20) + b'"}')
    check(st == 413, f"a 2 MiB body over --max-body-mib 1: {st}")
    burst = [b"", b"[]", b'{"prompt": 5}', b'{"prompt": "x", "stop": [1]}', b"\xff\xfe",
             b'{"prompt": "x", "logprobs": 99}', b'{"prompt": "x", "seed": 1e400}',
             b'{"messages": [{"role": "x", "content": "y"}]}'] * 8
    codes = [raw("/v1/completions", b)[0] for b in burst]
    check(all(c == 400 for c in codes), f"a burst of {len(burst)} bad requests: all 400")
    st, body = raw("/health", None, method="GET")
    check(st == 200 and body == {"status": "ok"}, "the server still serves after the burst")

    # curl: the same completion as the client's.
    out = subprocess.run(["curl", "-s", base + "/v1/completions", "-H", f"Authorization: Bearer {KEY}",
                          "-H", "Content-Type: application/json",
                          "-d", json.dumps({"prompt": prompt, "max_tokens": 24, "temperature": 0})],
                         capture_output=True, text=True, timeout=120)
    check(json.loads(out.stdout)["choices"][0]["text"] == c.choices[0].text, "curl gets the same text")

    # Requests beyond --parallel 1 wait and are all served; a streaming client that disconnects
    # frees its session for the next.
    results = [None] * 3

    def one(i):
        results[i] = client.completions.create(model=model, prompt=prompt, max_tokens=8,
                                               temperature=0).choices[0].text
    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check(results == [text[:len(results[0])]] * 3 and results[0], "three queued requests all served")
    sock = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"prompt": prompt, "max_tokens": 1500, "temperature": 1, "stream": True,
                       "extra_body": None}).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    got = b""
    while got.count(b"data:") < 3:
        got += sock.recv(4096)
    sock.close()
    t0 = time.time()
    client.completions.create(model=model, prompt=prompt, max_tokens=2, temperature=0)
    waited = time.time() - t0
    check(waited < 20, f"after a streaming client left, the next request ran in {waited:.1f} s")
finally:
    server.terminate()
    server.wait(timeout=30)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
