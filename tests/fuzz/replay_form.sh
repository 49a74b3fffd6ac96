#!/bin/sh
# Replay the form parser's fuzz corpus through tests/fuzz/replay_form (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_form" "$srcdir"/tests/fuzz/corpus/form/* >&2; then
	echo "ok 1 - form corpus replays cleanly"
else
	echo "not ok 1 - form corpus replay failed"
fi
