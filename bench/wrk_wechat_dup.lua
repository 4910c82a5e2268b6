-- The duplicate path: the same WeChat text message (one MsgId, stored before the run) on every
-- request, as a platform's retries look. Counts the responses by status per thread.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  other = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
  wrk.body = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
    .. "<FromUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></FromUserName>"
    .. "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    .. "<Content><![CDATA[你好，请问还有货吗？]]></Content><MsgId>1</MsgId></xml>"
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
