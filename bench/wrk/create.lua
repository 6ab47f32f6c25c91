-- POST /v1/keys with the root key in $ROOT_KEY: one key created per request.
wrk.method = "POST"
wrk.path = "/v1/keys"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ROOT_KEY")
wrk.body = '{"name":"bench"}'
