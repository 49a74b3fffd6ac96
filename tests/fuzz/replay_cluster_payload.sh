#!/bin/sh
# Replay the cluster notification payload parser's fuzz corpus through tests/fuzz/replay_cluster_payload (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_cluster_payload" "$srcdir"/tests/fuzz/corpus/cluster_payload/* >&2; then
	echo "ok 1 - cluster_payload corpus replays cleanly"
else
	echo "not ok 1 - cluster_payload corpus replay failed"
fi
