"""What the two sandboxes share: the HTTP shell they run in, and one style of fault settings.

- `shell`: a threaded `http.server` on 127.0.0.1 (keep-alive, bodies by length or chunked, no
  reverse DNS, a request log with secret query values masked) that hands each request to the
  sandbox's own app as an `Exchange` and writes its `Answer`, including what only the wire can
  show: a dropped connection, a reset, a body cut off half-way. `http.server`, not a
  framework: those faults need the socket.
- `concurrency`: how many requests a sandbox answers at once, for both sandboxes' stats.
- `faults`: the wire faults both sandboxes inject (latency, failure statuses, timeouts,
  resets), as a `msgspec.Struct` that each sandbox extends with its own.
- `startable`: start, stop, and a `with` block doing both (the sandboxes, their processes and
  the playground's stack).
"""
