#!/bin/sh
# The manual pages are valid mdoc: mandoc -T lint finds nothing to say about any of them, not
# even style (TAP).  Only the messages that depend on this machine's installed manuals are let
# through: a page named in .Xr that is not installed yet, and an outdated mandoc.db.
srcdir=${srcdir:-.}
pages=$(ls "$srcdir"/man/*.[1-9] 2>/dev/null)
if ! command -v mandoc >/dev/null 2>&1; then
	echo "1..0 # SKIP mandoc is not installed (apt-get install mandoc; script/bootstrap does)"
	exit 0
fi
if [ -z "$pages" ]; then
	echo "1..1"
	echo "not ok 1 - no manual pages in $srcdir/man"
	exit 0
fi
set -- $pages
echo "1..$#"
n=0
for page in "$@"; do
	n=$((n + 1))
	out=$(mandoc -T lint -W style "$page" 2>&1 |
		grep -v -e 'referenced manual not found' -e 'mandoc\.db')
	if [ -z "$out" ]; then
		echo "ok $n - $(basename "$page") lints clean"
	else
		echo "not ok $n - $(basename "$page"): mandoc -T lint says"
		echo "$out" | sed 's/^/# /'
	fi
done
