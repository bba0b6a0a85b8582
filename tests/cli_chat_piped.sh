#!/bin/sh
# `longctx chat` fed from a pipe: no "> " prompts in its output (nobody types), so an error is a
# line of its own, not "> longctx: error: ...". Usage: cli_chat_piped.sh LONGCTX
out=$(printf 'hello there my friend how are you\n' | "$1" chat -c 16 2>&1)
echo "$out"
echo "$out" | grep -q '^longctx: error: the conversation no longer fits' || exit 1
! echo "$out" | grep -q '> '
