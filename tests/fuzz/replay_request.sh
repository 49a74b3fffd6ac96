#!/bin/sh
# Replay the request parser's fuzz corpus through tests/fuzz/replay_request (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_request" "$srcdir"/tests/fuzz/corpus/request/* >&2; then
	echo "ok 1 - request corpus replays cleanly"
else
	echo "not ok 1 - request corpus replay failed"
fi
