#!/bin/sh
# Replay the jwks parser's fuzz corpus through tests/fuzz/replay_jwks (TAP: one test).
srcdir=${srcdir:-.}
echo "1..1"
if "${BUILD_DIR:-.}/tests/fuzz/replay_jwks" "$srcdir"/tests/fuzz/corpus/jwks/* >&2; then
	echo "ok 1 - jwks corpus replays cleanly"
else
	echo "not ok 1 - jwks corpus replay failed"
fi
