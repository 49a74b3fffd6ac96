#!/bin/sh
# Issue 11: schema/NNN_*.sql (SQLite) and schema/pg/NNN_*.sql (PostgreSQL) are one list of
# migrations in two dialects: the same names in the same order, or a database on one backend
# would be at a different version than the same number on the other (TAP).
srcdir=${srcdir:-.}
echo "1..1"
lite=$(cd "$srcdir"/schema && ls [0-9]*.sql 2>/dev/null | LC_ALL=C sort)
pg=$(cd "$srcdir"/schema/pg && ls [0-9]*.sql 2>/dev/null | LC_ALL=C sort)
if [ -n "$lite" ] && [ "$lite" = "$pg" ]; then
	echo "ok 1 - schema/ and schema/pg/ list the same $(echo "$lite" | wc -l) migrations in order"
else
	echo "not ok 1 - schema/ and schema/pg/ differ (< SQLite, > PostgreSQL):"
	printf '%s\n' "$lite" > "${TMPDIR:-/tmp}/schema-dialects.$$.a"
	printf '%s\n' "$pg" | diff "${TMPDIR:-/tmp}/schema-dialects.$$.a" - | grep '^[<>]' | sed 's/^/# /'
	rm -f "${TMPDIR:-/tmp}/schema-dialects.$$.a"
fi
