-- wrk script: POST one gzip-compressed envelope carrying one error event to
-- the relay's envelope endpoint, the way sentry-python sends it.
--
--   wrk -s bench/wrk/envelope_1k_gzip.lua http://127.0.0.1:3000/api/1/envelope/
--
-- The envelope is 1024 bytes before compression (header line, item header,
-- a ~950-byte event). Every request carries the same bytes (and event id):
-- compressing per request would measure wrk, not the relay; the relay does
-- not deduplicate, so each request is a full pass through its pipeline.
-- TERN_WRK_KEY sets the DSN public key (default: config/projects.yml's demo
-- key); the URL's project id must match that key's project.

local key = os.getenv("TERN_WRK_KEY") or "0123456789abcdef0123456789abcdef"
local target = 1024
local event_id = "5d167a8fb6ce4f4d9a4cbbfb0a0e2c51"

local function event(pad)
  return '{"event_id":"' .. event_id .. '","timestamp":1700000000.5,' ..
    '"platform":"python","level":"error","logger":"app.views",' ..
    '"server_name":"web-1","release":"app@1.4.2","environment":"production",' ..
    '"tags":{"customer":"acme","region":"eu-west-1"},' ..
    '"user":{"id":"4242","ip_address":"{{auto}}"},' ..
    '"exception":{"values":[{"type":"ZeroDivisionError",' ..
    '"value":"division by zero","module":"builtins","stacktrace":{"frames":[' ..
    '{"filename":"app/views.py","function":"checkout","lineno":88,' ..
    '"module":"app.views","in_app":true,"context_line":"    total = a / b"},' ..
    '{"filename":"app/pricing.py","function":"ratio","lineno":12,' ..
    '"module":"app.pricing","in_app":true,"context_line":"    return x / y"}' ..
    ']}}]},"sdk":{"name":"sentry.python","version":"2.19.0"},' ..
    '"extra":{"pad":"' .. string.rep("x", pad) .. '"}}'
end

local function envelope(pad)
  local ev = event(pad)
  return '{"event_id":"' .. event_id .. '","sent_at":"2023-11-14T22:13:20Z"}\n' ..
    '{"type":"event","length":' .. #ev .. '}\n' .. ev .. '\n'
end

-- Pad the event so the whole envelope is exactly `target` bytes.
local body = envelope(0)
body = envelope(target - #body)
assert(#body == target, "envelope is " .. #body .. " bytes")

-- gzip it once, through the gzip(1) command.
local tmp = os.tmpname()
local f = assert(io.open(tmp, "wb"))
f:write(body)
f:close()
local gz = assert(io.popen("gzip -6 -n -c < " .. tmp, "r"))
local compressed = gz:read("*a")
gz:close()
os.remove(tmp)
assert(#compressed > 0, "gzip produced nothing")

wrk.method = "POST"
wrk.body = compressed
wrk.headers["Content-Type"] = "application/x-sentry-envelope"
wrk.headers["Content-Encoding"] = "gzip"
wrk.headers["X-Sentry-Auth"] = "Sentry sentry_key=" .. key ..
  ", sentry_version=7, sentry_client=sentry.python/2.19.0"
wrk.headers["User-Agent"] = "sentry.python/2.19.0"

io.stderr:write(string.format("envelope: %d bytes, %d gzip bytes\n",
                              #body, #compressed))
