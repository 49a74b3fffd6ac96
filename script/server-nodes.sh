# shellcheck shell=bash
# script/server-nodes.sh — the --nodes N part of script/server, sourced by it (not run alone):
# a PostgreSQL of the demo's own, N flowgated nodes on it sharing one master key file and one
# connection string, N flowgate-fcgi pools, and the shipped nginx upstream group over the pools
# (contrib/nginx/flowgate-nodes.conf). Everything lives under $DEMO/nodes:
#   pg/data, pg/run     the cluster (initdb once) and its Unix socket: the only way in (no TCP),
#                       trust auth, so the directory is the boundary (postgres and flowgated only)
#   key/                the daemons' master key (flowgatectl init, once) and conninfo file
#   nodeK/              node K's flowgated.conf (the demo's own, rewritten every run) and sockets
#   try/                the credential file of the cluster's demo-backend app
# PostgreSQL is one of script/server's supervised parts: restarted when it dies, stopped last of
# the nodes' parts with `pg_ctl stop -m fast`.

PG_BIN=${FLOWGATE_PG_BIN:-/usr/lib/postgresql/15/bin}
NODES_DIR=$DEMO/nodes
PG_DIR=$NODES_DIR/pg
PG_SOCK=$PG_DIR/run
# PostgreSQL refuses to run as root: its programs run as the postgres user (setpriv execs, so a
# pid is the program's), from a directory that user can read
PG_AS=(env -C "$PG_DIR" setpriv --reuid=postgres --regid=postgres --clear-groups)

nodes_conf() { echo "$NODES_DIR/node$1/flowgated.conf"; }
nodes_run() { echo "$NODES_DIR/node$1/run"; }

# nodes_create: the cluster and the key directory (once), each node's directories and config
nodes_create() {
	local k r
	if ! id -u postgres >/dev/null 2>&1 || [[ ! -x $PG_BIN/postgres ]]; then
		die "--nodes needs PostgreSQL 15 ($PG_BIN/postgres and the postgres user): apt-get install postgresql-15 (script/bootstrap does)"
	fi
	if [[ ! -f $PG_DIR/.created ]]; then
		say "nodes: creating a PostgreSQL cluster in $PG_DIR (initdb, Unix socket only)"
		rm -rf "$PG_DIR"
		mkdir -p "$PG_DIR"/{data,run} "$NODES_DIR/key"
		chmod 0755 "$NODES_DIR" "$PG_DIR"
		"${PG_AS[@]}" true 2>/dev/null ||
			die "the postgres user cannot enter $PG_DIR: put FLOWGATE_DEMO_DIR where every user may traverse"
		chown postgres:postgres "$PG_DIR/data"
		chmod 0700 "$PG_DIR/data"
		chown postgres:flowgated "$PG_SOCK"
		chmod 0750 "$PG_SOCK"
		"${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U flowgate --auth=trust --encoding=UTF8 \
			--locale=C >"$DEMO/logs/initdb.log" 2>&1 || die "initdb failed: see $DEMO/logs/initdb.log"
		printf '%s\n' "# script/server --nodes" "listen_addresses = ''" "unix_socket_directories = '$PG_SOCK'" \
			'port = 5432' 'shared_buffers = 16MB' 'max_connections = 50' >>"$PG_DIR/data/postgresql.conf"
		# the daemons' own files: only their user may enter (the conninfo file follows the key's rules)
		chown flowgated:flowgated "$NODES_DIR/key"
		chmod 0700 "$NODES_DIR/key"
		(umask 077; echo "host=$PG_SOCK port=5432 dbname=flowgate user=flowgate" >"$NODES_DIR/key/conninfo")
		chown flowgated:flowgated "$NODES_DIR/key/conninfo"
		touch "$PG_DIR/.created"
	fi
	for ((k = 1; k <= NODES; k++)); do
		r=$(nodes_run "$k")
		mkdir -p "$r"/{daemon,fcgi,relay}
		chmod 0755 "$NODES_DIR/node$k" "$r"
		# as the single node's: the daemon's socket for the web user, the pool's for nginx,
		# the relay log socket for nginx
		chown flowgated:flowgate-web "$r/daemon"
		chown flowgate-web:www-data "$r/fcgi"
		chown flowgated:www-data "$r/relay"
		chmod 0750 "$r/daemon" "$r/fcgi" "$r/relay"
		rm -f "$r/daemon/flowgated.sock" "$r/fcgi/fcgi.sock"
		nodes_config "$k"
	done
}

# nodes_config K: node K's config: the demo's own, on the shared storage and key, its own sockets
nodes_config() {
	local r
	r=$(nodes_run "$1")
	sed -e "1s|.*|; flowgated configuration of demo node $1 (script/server --nodes: rewritten every run)|" \
		-e "s|^socket = .*|socket = $r/daemon/flowgated.sock|" -e '/^database = /d' \
		-e "s|^key_file = .*|key_file = $NODES_DIR/key/master.key|" \
		-e "s|^log_socket = .*|log_socket = $r/relay/relay-log.sock|" \
		-e "s|^\[upstream\]\$|[storage]\nbackend = postgresql\nconninfo_file = $NODES_DIR/key/conninfo\n[upstream]|" \
		"$DEMO/flowgated.conf" >"$(nodes_conf "$1")"
	chmod 0644 "$(nodes_conf "$1")"
}

# nodes_start_postgres: the cluster as a supervised part, its database made once
nodes_start_postgres() {
	local psql=("$PG_BIN/psql" -X -A -t -q -h "$PG_SOCK" -p 5432 -U flowgate -d postgres)
	say "starting PostgreSQL 15 (socket in $PG_SOCK)"
	start postgres "${PG_AS[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data"
	# shellcheck disable=SC2034 # script/server's stop_all runs it
	STOPS[${#PIDS[@]} - 1]=$(printf '%q ' "${PG_AS[@]}" "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -w -t 30)
	wait_for postgres "$!" 30 "$PG_BIN/pg_isready" -q -h "$PG_SOCK" -p 5432 -U flowgate -d postgres
	[[ $("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'flowgate'") = 1 ]] ||
		"${psql[@]}" -c 'CREATE DATABASE flowgate' || die "could not create the database flowgate"
}

# nodes_start_daemons: the master key and schema once (through node 1), then N daemons
nodes_start_daemons() {
	local k
	if [[ ! -f $NODES_DIR/.created ]]; then
		say "nodes: flowgatectl init (the nodes' master key, the schema in PostgreSQL)"
		"$BUILD/flowgatectl" -c "$(nodes_conf 1)" init
		touch "$NODES_DIR/.created"
	fi
	for ((k = 1; k <= NODES; k++)); do
		say "starting flowgated node $k of $NODES"
		start "flowgated-$k" "$BUILD/flowgated" -c "$(nodes_conf "$k")"
		wait_for "flowgated-$k" "$!" 20 grep -q 'ready' "$DEMO/logs/flowgated-$k.log"
	done
}

# nodes_start_pools: one flowgate-fcgi pool per node, each talking to its own daemon
nodes_start_pools() {
	local k r
	for ((k = 1; k <= NODES; k++)); do
		r=$(nodes_run "$k")
		say "starting flowgate-fcgi pool $k (2 workers, user flowgate-web)"
		start "flowgate-fcgi-$k" "$BUILD/flowgate-fcgi" -s "$r/fcgi/fcgi.sock" -d "$r/daemon/flowgated.sock" \
			-n 2 -u flowgate-web -g www-data -w "$ROOT/web"
		wait_for "flowgate-fcgi-$k" "$!" 10 test -S "$r/fcgi/fcgi.sock"
	done
}

# nodes_nginx DIR: the shipped upstream group rendered with the N pools into DIR/flowgate-nodes.conf
nodes_nginx() {
	local k servers=''
	for ((k = 1; k <= NODES; k++)); do
		servers+="    server unix:$(nodes_run "$k")/fcgi/fcgi.sock max_fails=1 fail_timeout=5s;"$'\n'
	done
	awk -v s="$servers" '/^    server unix:/ { next } { print } /^upstream flowgate_nodes \{$/ { printf "%s", s }' \
		contrib/nginx/flowgate-nodes.conf >"$1/flowgate-nodes.conf"
}

# nodes_pid NAME: the pid of the supervised part NAME
nodes_pid() {
	local i
	for i in "${!NAMES[@]}"; do [[ ${NAMES[i]} = "$1" ]] && echo "${PIDS[i]}"; done
}

# nodes_greeting: how many nodes run, where, and how to watch a failover
nodes_greeting() {
	local k
	cat <<EOF

  $NODES flowgated nodes on one PostgreSQL ($PG_SOCK), one nginx upstream group over their pools:
EOF
	for ((k = 1; k <= NODES; k++)); do
		printf '    node %d:  flowgated pid %s, config %s\n' "$k" "$(nodes_pid "flowgated-$k")" "$(nodes_conf "$k")"
	done
	cat <<EOF
  Failover: kill -9 $(nodes_pid flowgated-2)   (node 2's daemon) while running the token line in a loop:
    nginx skips node 2's pool (fastcgi_next_upstream), this script restarts the daemon, and
    $BUILD/flowgatectl -c $(nodes_conf 1) audit verify checks the one audit chain of all nodes.
EOF
}
