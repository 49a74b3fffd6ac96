#!/bin/sh
# Replay the discovery parser's fuzz corpus through tests/fuzz/replay_discovery (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_discovery" "$srcdir"/tests/fuzz/corpus/discovery/* >&2; then
	echo "ok 1 - discovery corpus replays cleanly"
else
	echo "not ok 1 - discovery corpus replay failed"
fi
