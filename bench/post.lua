-- bench/post.lua - wrk script: every request is a POST of BENCH_POST_SIZE
-- bytes (environment, default 1 MiB) to the URL's path.
local size = tonumber(os.getenv("BENCH_POST_SIZE") or "1048576")
wrk.method = "POST"
wrk.body = string.rep("x", size)
wrk.headers["Content-Type"] = "application/octet-stream"
