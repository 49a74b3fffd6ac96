-- wrk script for bench/run: a client-credentials token request (RFC 6749 §4.4) with HTTP Basic
-- client authentication and a form body, on every request.
--
-- Environment (secrets stay out of argv):
--   FG_BENCH_AUTH   base64 of "client_id:client_secret" (required)
--   FG_BENCH_SCOPE  requested scope, space separated (default "streams")
-- At the end it prints one machine-readable line for bench/run:
--   BENCH_RESULT {"requests":..,"rps":..,"p50_ms":..,"p99_ms":..,"errors_status":..,...}

local auth = os.getenv("FG_BENCH_AUTH")
if auth == nil or auth == "" then
	error("FG_BENCH_AUTH is not set (base64 of client_id:client_secret)")
end
local scope = os.getenv("FG_BENCH_SCOPE") or "streams"

wrk.method = "POST"
wrk.headers["Authorization"] = "Basic " .. auth
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials&scope=" .. (scope:gsub(" ", "+"))

function done(summary, latency, requests)
	local s = summary.duration / 1e6
	local e = summary.errors
	io.write(string.format('BENCH_RESULT {"requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
		'"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
		'"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"errors_status":%d}\n',
		summary.requests, s, summary.requests / s,
		latency:percentile(50) / 1000, latency:percentile(90) / 1000,
		latency:percentile(99) / 1000, latency.max / 1000,
		e.connect, e.read, e.write, e.timeout, e.status))
end
