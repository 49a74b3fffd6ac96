#!/bin/sh
# Replay the frame corpus through the decoder (TAP); a crash or sanitizer report fails it.
echo "1..1"
if ./tests/fuzz/replay_frame "$srcdir"/tests/fuzz/corpus/frame/*; then
	echo "ok 1 - frame decoder survives its corpus"
else
	echo "not ok 1 - frame decoder crashed on its corpus"
fi
