"""PyPI `pusher` against a running rollcall (port in ROLLCALL_PORT): signed GETs, which this
SDK sends with body_md5 of the empty body, a trigger, and terminate_user_connections, which it
posts to /users/{id}/terminate_connections without the /apps prefix. Prints the answers as
JSON; the Node test asserts on them. Any HTTP error raises, and so exits non-zero."""

import json
import os

import pusher

client = pusher.Pusher(
    app_id="123",
    key="app-key",
    secret="app-secret-123",
    host="127.0.0.1",
    port=int(os.environ["ROLLCALL_PORT"]),
    ssl=False,
    timeout=5,
)

result = {
    "channels": client.channels_info(prefix_filter="presence-", attributes=["user_count"]),
    "channel": client.channel_info("presence-py", attributes=["user_count"]),
    "users": client.users_info("presence-py"),
    "trigger": client.trigger("py-news", "py-event", {"x": 1}),
}
result["terminate"] = client.terminate_user_connections("py-user")
print(json.dumps(result))
