-- Every request a new WeChat Official Account text message: MsgId = thread id * 10^12 + a
-- per-thread counter, so no two requests of a run (or of two runs: the harness passes a run
-- number) share a dedupe key. The signed query (token, timestamp, nonce) is fixed per run;
-- plain mode signs only the query, never the body. Counts the responses by status per thread.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  run = tonumber(args[1] or "0")
  counter = 0
  ok = 0
  other = 0
  base = (run * 100 + tid) * 1000000000000
  prefix = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
    .. "<FromUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvL" .. tid .. "]]></FromUserName>"
    .. "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    .. "<Content><![CDATA[你好，请问还有货吗？]]></Content><MsgId>"
  headers = { ["Content-Type"] = "text/xml" }
end

function request()
  counter = counter + 1
  local body = prefix .. string.format("%.0f", base + counter) .. "</MsgId></xml>"
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("STATUS200 %d\nSTATUSOTHER %d\n", total_ok, total_other))
  io.write(string.format("P50US %d\nP99US %d\n", latency:percentile(50), latency:percentile(99)))
end
