/*
 * Front-end counters in an anonymous shared mapping made by the master before it forks, so
 * every worker (and every restarted worker) adds to the same numbers; rendered in the
 * Prometheus text format 0.0.4 together with the daemon's "stats" reply.
 */
#include "config.h"

#include <sys/mman.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

#define METRICS_BUCKETS_MAX	64
#define METRICS_NAME_MAX	64
#define METRICS_OUT_MAX		(64 * 1024)

struct metrics {
	atomic_ullong	requests[METRICS_ROUTE_MAX][METRICS_OUTCOME_MAX];
	atomic_ullong	reconnects;
	atomic_ullong	restarts;
};

struct metrics_buf {
	char	*p;
	size_t	 len;
	size_t	 size;
	int	 overflow;
};

struct metrics_bucket {
	const char		*le;
	double			 bound;
	unsigned long long	 count;
};

static struct metrics	*metrics;

static void	metrics_handle(struct request *);

const struct route metrics_routes[] = {
	{ "GET", "/metrics", ROUTE_JSON | ROUTE_COUNTED | ROUTE_BARE,
	    METRICS_ROUTE_METRICS, metrics_handle },
	{ NULL, NULL, 0, 0, NULL }
};

static const char *const metrics_labels[METRICS_ROUTE_MAX] = {
	"token", "healthz", "metrics", "other"
};

static const char *const metrics_outcomes[METRICS_OUTCOME_MAX] = {
	"ok", "invalid_request", "invalid_client", "invalid_scope", "unauthorized_client",
	"unsupported_grant_type", "invalid_grant", "unavailable", "server_error",
	"method_not_allowed",
	"not_found"
};

/* Map the shared counters; called once by the master before the first fork. */
int
metrics_init(void)
{
	void	*p;

	p = mmap(NULL, sizeof(*metrics), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	metrics = p;
	return 0;
}

/* Count one answered request. */
void
metrics_request(enum metrics_route route, enum metrics_outcome outcome)
{
	atomic_fetch_add_explicit(&metrics->requests[route][outcome], 1, memory_order_relaxed);
}

/* Count a daemon connection that was lost and will be made again. */
void
metrics_reconnect(void)
{
	atomic_fetch_add_explicit(&metrics->reconnects, 1, memory_order_relaxed);
}

/* Count a worker the master had to start again. */
void
metrics_worker_restarted(void)
{
	atomic_fetch_add_explicit(&metrics->restarts, 1, memory_order_relaxed);
}

/* Append formatted text, remembering if it did not fit. */
__attribute__((format(printf, 2, 3)))
static void
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->size - b->len)
		b->overflow = 1;
	else
		b->len += (size_t)n;
}

/* The front end's own counters; every token outcome is listed, even at zero. */
static void
metrics_render_local(struct metrics_buf *b)
{
	unsigned long long	v;
	int			r, o;

	metrics_printf(b, "# HELP flowgate_http_requests_total HTTP requests answered, by route "
	    "and outcome.\n# TYPE flowgate_http_requests_total counter\n");
	for (r = 0; r < METRICS_ROUTE_MAX; r++) {
		for (o = 0; o < METRICS_OUTCOME_MAX; o++) {
			v = atomic_load_explicit(&metrics->requests[r][o], memory_order_relaxed);
			if (v == 0 && (r != METRICS_ROUTE_TOKEN || o > METRICS_SERVER_ERROR))
				continue;
			metrics_printf(b, "flowgate_http_requests_total"
			    "{route=\"%s\",outcome=\"%s\"} %llu\n", metrics_labels[r],
			    metrics_outcomes[o], v);
		}
	}
	metrics_printf(b, "# HELP flowgate_daemon_reconnects_total Daemon connections lost by "
	    "workers.\n# TYPE flowgate_daemon_reconnects_total counter\n"
	    "flowgate_daemon_reconnects_total %llu\n",
	    atomic_load_explicit(&metrics->reconnects, memory_order_relaxed));
	metrics_printf(b, "# HELP flowgate_workers_restarted_total Workers restarted by the "
	    "master.\n# TYPE flowgate_workers_restarted_total counter\n"
	    "flowgate_workers_restarted_total %llu\n",
	    atomic_load_explicit(&metrics->restarts, memory_order_relaxed));
}

/* Whether a daemon counter name can be used in a metric name as it is. */
static int
metrics_name_ok(const char *name)
{
	size_t	i;

	if (name[0] < 'a' || name[0] > 'z')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		if (i == METRICS_NAME_MAX)
			return 0;
		if ((name[i] < 'a' || name[i] > 'z') && (name[i] < '0' || name[i] > '9') &&
		    name[i] != '_')
			return 0;
	}
	return 1;
}

/* Each top-level integer of the "stats" reply becomes flowgate_daemon_<name>_total. */
static void
metrics_render_counters(struct metrics_buf *b, json_t *stats)
{
	const char	*key;
	json_t		*v;

	json_object_foreach(stats, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || !metrics_name_ok(key) ||
		    strcmp(key, "upstream_latency_ms_sum") == 0)
			continue;
		metrics_printf(b, "# TYPE flowgate_daemon_%s_total counter\n"
		    "flowgate_daemon_%s_total %lld\n", key, key,
		    (long long)json_integer_value(v));
	}
}

/* Order buckets by their upper bound. */
static int
metrics_bucket_cmp(const void *a, const void *b)
{
	const struct metrics_bucket	*x = a, *y = b;

	return (x->bound > y->bound) - (x->bound < y->bound);
}

/* Collect valid buckets ({"0.005": n, ..., "+Inf": n}, cumulative); returns how many. */
static size_t
metrics_buckets(json_t *obj, struct metrics_bucket *bk)
{
	const char	*key;
	char		*end;
	json_t		*v;
	size_t		 n = 0;

	json_object_foreach(obj, key, v) {
		if (n == METRICS_BUCKETS_MAX || !json_is_integer(v) || json_integer_value(v) < 0)
			continue;
		if (strcmp(key, "+Inf") == 0)
			bk[n].bound = INFINITY;
		else {
			bk[n].bound = strtod(key, &end);
			if (*key == '\0' || *end != '\0' || !isfinite(bk[n].bound) ||
			    bk[n].bound < 0)
				continue;
		}
		bk[n].le = key;
		bk[n].count = (unsigned long long)json_integer_value(v);
		n++;
	}
	qsort(bk, n, sizeof(*bk), metrics_bucket_cmp);
	return n;
}

/* The daemon's upstream latency buckets as a Prometheus histogram (which needs a +Inf bucket). */
static void
metrics_render_histogram(struct metrics_buf *b, json_t *stats)
{
	struct metrics_bucket	 bk[METRICS_BUCKETS_MAX];
	json_t			*sum;
	size_t			 i, n;
	unsigned long long	 count = 0;

	n = metrics_buckets(json_object_get(stats, "upstream_latency_buckets"), bk);
	if (n == 0)
		return;
	metrics_printf(b, "# HELP flowgate_upstream_latency_seconds Upstream token request "
	    "latency.\n# TYPE flowgate_upstream_latency_seconds histogram\n");
	for (i = 0; i < n; i++) {
		metrics_printf(b, "flowgate_upstream_latency_seconds_bucket{le=\"%s\"} %llu\n",
		    bk[i].le, bk[i].count);
		if (bk[i].count > count)
			count = bk[i].count;
	}
	if (!isinf(bk[n - 1].bound))
		metrics_printf(b, "flowgate_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
		    count);
	sum = json_object_get(stats, "upstream_latency_ms_sum");
	metrics_printf(b, "flowgate_upstream_latency_seconds_sum %.3f\n"
	    "flowgate_upstream_latency_seconds_count %llu\n",
	    json_is_integer(sum) ? (double)json_integer_value(sum) / 1000.0 : 0.0, count);
}

/* One gauge per listed connection from its integer field key (skipped when absent). */
static void
metrics_render_conn_gauge(struct metrics_buf *b, json_t *list, const char *metric,
    const char *key, const char *help)
{
	json_t		*c, *v;
	const char	*name;
	size_t		 i;

	metrics_printf(b, "# HELP flowgate_connection_%s %s\n# TYPE flowgate_connection_%s "
	    "gauge\n", metric, help, metric);
	json_array_foreach(list, i, c) {
		name = link_str(c, "name");
		v = json_object_get(c, key);
		if (name == NULL || !fg_name_ok(name, strlen(name)) || !json_is_integer(v))
			continue;
		metrics_printf(b, "flowgate_connection_%s{connection=\"%s\"} %lld\n", metric,
		    name, (long long)json_integer_value(v));
	}
}

/*
 * The connections the daemon's "health" names (the most troubled first, bounded): whether
 * each is ok, its state, its last success and failure and its secret's age; and how many
 * connections are in each state over all of them.
 */
static void
metrics_render_connections(struct metrics_buf *b, json_t *health)
{
	static const char *const states[] = { "ok", "degraded", "stopped", "unknown" };
	json_t		*list = json_object_get(health, "connections"), *c;
	json_t		*counts = json_object_get(health, "counts");
	const char	*name, *st;
	size_t		 i, k;

	metrics_printf(b, "# HELP flowgate_connections Connections by state (ok, degraded: the "
	    "latest token request failed, stopped, unknown: none yet).\n"
	    "# TYPE flowgate_connections gauge\n");
	for (k = 0; k < sizeof(states) / sizeof(states[0]); k++)
		metrics_printf(b, "flowgate_connections{state=\"%s\"} %lld\n", states[k],
		    (long long)json_integer_value(json_object_get(counts, states[k])));
	metrics_printf(b, "# HELP flowgate_connection_up Whether the connection's latest token "
	    "request succeeded (the most troubled connections are listed).\n"
	    "# TYPE flowgate_connection_up gauge\n");
	json_array_foreach(list, i, c) {
		name = link_str(c, "name");
		st = link_str(c, "status");
		if (name == NULL || st == NULL || !fg_name_ok(name, strlen(name)))
			continue;
		metrics_printf(b, "flowgate_connection_up{connection=\"%s\",state=\"%s\"} "
		    "%d\n", name, strcmp(st, "degraded") == 0 ? "degraded" : strcmp(st, "ok") ==
		    0 ? "ok" : strcmp(st, "stopped") == 0 ? "stopped" : "unknown",
		    strcmp(st, "ok") == 0);
	}
	metrics_render_conn_gauge(b, list, "last_success_timestamp_seconds", "last_ok_at",
	    "When the connection last got a token.");
	metrics_render_conn_gauge(b, list, "last_failure_timestamp_seconds", "last_failure_at",
	    "When the connection last failed to get a token.");
	metrics_render_conn_gauge(b, list, "secret_age_seconds", "secret_age_s",
	    "Age of the connection's client secret.");
}

/*
 * Render all metrics into buf; stats is the daemon's "stats" reply and health its "health"
 * reply, or NULL when the daemon cannot be reached.  Returns the length, or 0 if buf is too
 * small.
 */
size_t
metrics_render(char *buf, size_t size, json_t *stats, json_t *health)
{
	struct metrics_buf	b = { .p = buf, .size = size };

	metrics_render_local(&b);
	metrics_printf(&b, "# HELP flowgate_daemon_up Whether the daemon answered.\n"
	    "# TYPE flowgate_daemon_up gauge\nflowgate_daemon_up %d\n", stats != NULL);
	if (stats != NULL) {
		metrics_render_counters(&b, stats);
		metrics_render_histogram(&b, stats);
	}
	if (json_is_object(json_object_get(health, "connections")))
		metrics_render_connections(&b, json_object_get(health, "connections"));
	return b.overflow ? 0 : b.len;
}

/* GET /metrics: our counters, and the daemon's when it answers. */
static void
metrics_handle(struct request *r)
{
	static char		 out[METRICS_OUT_MAX];
	struct http_reply	 rp = { .status = 200,
	    .content_type = "text/plain; version=0.0.4; charset=utf-8" };
	json_t			*stats, *health;
	size_t			 n;

	metrics_request(METRICS_ROUTE_METRICS, METRICS_OK);
	stats = link_ask("stats");
	health = stats != NULL ? link_ask("health") : NULL;
	n = metrics_render(out, sizeof(out), stats, health);
	json_decref(stats);
	json_decref(health);
	if (n == 0) {
		fg_log_warn("metrics do not fit in %zu bytes", sizeof(out));
		rp.status = 500;
	}
	request_send(r, &rp, out, n);
}

