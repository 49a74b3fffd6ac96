#!/bin/sh
# The manual pages keep up with the sources: every section and key daemon/config.c reads is in
# flowgated.conf(5), every flag of flowgated and flowgate-fcgi in their pages, every command word
# and option flowgatectl.c knows in flowgatectl(8) (TAP).  A new key or option fails here until
# its page says what it does.
srcdir=${srcdir:-.}
man=$srcdir/man
n=0
echo "1..5"

# report N WHAT MISSING: one TAP line
report() {
	if [ -z "$3" ]; then
		echo "ok $1 - $2"
	else
		echo "not ok $1 - $2; missing:$3"
	fi
}

# flowgated.conf(5): sections and keys
missing=""
for s in $(grep -o 'strcmp(section, "[a-z_]*")' "$srcdir/daemon/config.c" | sed 's/.*"\(.*\)".*/\1/'); do
	grep -q "^\.Ss The \[$s\] section" "$man/flowgated.conf.5" || missing="$missing [$s]"
done
report 1 "flowgated.conf.5 has a section for every section of daemon/config.c" "$missing"
missing=""
for k in $(grep -o 'strcmp(name, "[a-z_]*")' "$srcdir/daemon/config.c" | sed 's/.*"\(.*\)".*/\1/'); do
	grep -q "^\.It Ic $k Ns" "$man/flowgated.conf.5" || missing="$missing $k"
done
report 2 "flowgated.conf.5 describes every key of daemon/config.c" "$missing"

# getopt letters of a program, each an .It Fl entry of its page
flags() {
	missing=""
	letters=$(grep -o 'getopt(argc, argv, "[^"]*")' "$1" | sed 's/.*"\(.*\)".*/\1/' | tr -d ':+')
	for l in $(echo "$letters" | sed 's/./& /g'); do
		grep -q "^\.It Fl $l" "$2" || missing="$missing -$l"
	done
	[ -n "$letters" ] || missing=" (no getopt string found in $1)"
}
flags "$srcdir/daemon/flowgated.c" "$man/flowgated.8"
report 3 "flowgated.8 describes every flag of daemon/flowgated.c" "$missing"
flags "$srcdir/fcgi/flowgate-fcgi.c" "$man/flowgate-fcgi.8"
report 4 "flowgate-fcgi.8 describes every flag of fcgi/flowgate-fcgi.c" "$missing"

# flowgatectl(8): every command word (strcmp on argv) and every --option
missing=""
words=$(grep -ho 'strcmp(argv\[[0-9]\], "[a-z-]*")' "$srcdir"/daemon/flowgatectl*.c |
	sed 's/.*"\(.*\)".*/\1/' | sort -u)
for w in $words; do
	case $w in -*) continue ;; esac
	grep 'Cm' "$man/flowgatectl.8" | grep -qw -- "$w" || missing="$missing $w"
done
# options: "--long" anywhere in the source, "-x" where a command word is compared
for o in $(grep -ho '"--[a-z-]*"' "$srcdir"/daemon/flowgatectl*.c | tr -d '"' | sort -u) \
	$(echo "$words" | grep -E '^-[a-z]$'); do
	grep -qE -- "Fl ${o#-}( |$)" "$man/flowgatectl.8" || missing="$missing $o"
done
report 5 "flowgatectl.8 describes every command and option of daemon/flowgatectl*.c" "$missing"
