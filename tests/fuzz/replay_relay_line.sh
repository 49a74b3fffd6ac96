#!/bin/sh
# Replay the relay log line parser's fuzz corpus through tests/fuzz/replay_relay_line (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_relay_line" "$srcdir"/tests/fuzz/corpus/relay_line/* >&2; then
	echo "ok 1 - relay_line corpus replays cleanly"
else
	echo "not ok 1 - relay_line corpus replay failed"
fi
