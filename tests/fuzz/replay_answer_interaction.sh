#!/bin/sh
# Replay the interaction answer parser's fuzz corpus through tests/fuzz/replay_answer_interaction (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_answer_interaction" "$srcdir"/tests/fuzz/corpus/answer_interaction/* >&2; then
	echo "ok 1 - answer_interaction corpus replays cleanly"
else
	echo "not ok 1 - answer_interaction corpus replay failed"
fi
