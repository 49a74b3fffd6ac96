#!/bin/sh
# Replay the token answer parser's fuzz corpus through tests/fuzz/replay_answer_token (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_answer_token" "$srcdir"/tests/fuzz/corpus/answer_token/* >&2; then
	echo "ok 1 - answer_token corpus replays cleanly"
else
	echo "not ok 1 - answer_token corpus replay failed"
fi
