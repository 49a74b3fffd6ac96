#!/bin/sh
# SPEC §5.10, one gate: the functions that yield an upstream token are called from gate.c only,
# and every route of schema/policy.json names a gate route the daemon compiles (TAP).
srcdir=${srcdir:-.}
echo "1..2"
fns='token_for_app|token_ropc|oidc_user_token|oidc_assistant_token'
calls=$(grep -nE "\\b($fns)\\(" "$srcdir"/daemon/*.c |
	grep -v '^[^:]*/gate\.c:' |
	grep -vE "^[^:]*:[0-9]+:($fns)\\(" |
	grep -vE ':[0-9]+:\s*(\*|/\*)')
if [ -z "$calls" ]; then
	echo "ok 1 - only gate.c asks for a token"
else
	echo "not ok 1 - a token is asked for outside gate.c:"
	echo "$calls" | sed 's/^/# /'
fi
routes=$(sed -n '/"routes"/,$p' "$srcdir"/schema/policy.json | grep -oE '^    "[a-z_]+": \{' |
	sed 's/^    "\([a-z_]*\)".*/\1/')
missing=""
for r in $routes; do
	grep -q "\.name = \"$r\"" "$srcdir"/daemon/gate.c || missing="$missing $r"
done
if [ -n "$routes" ] && [ -z "$missing" ]; then
	echo "ok 2 - every route of policy.json is compiled by gate.c:" $routes
else
	echo "not ok 2 - routes without a gate rule:${missing:- (none found in policy.json)}"
fi
