#!/bin/sh
# Replay the decimal parser's fuzz corpus through tests/fuzz/replay_decimal (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_decimal" "$srcdir"/tests/fuzz/corpus/decimal/* >&2; then
	echo "ok 1 - decimal corpus replays cleanly"
else
	echo "not ok 1 - decimal corpus replay failed"
fi
