#!/bin/sh
# Replay the claims answer parser's fuzz corpus through tests/fuzz/replay_answer_claims (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_answer_claims" "$srcdir"/tests/fuzz/corpus/answer_claims/* >&2; then
	echo "ok 1 - answer_claims corpus replays cleanly"
else
	echo "not ok 1 - answer_claims corpus replay failed"
fi
