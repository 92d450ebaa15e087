"""How both plugins behave on HTTP: one place for what tap-wistia and target-lytics share.

- `transport`: where plain http is acceptable (loopback hosts only, so a token never crosses a
  network unencrypted);
- `answers`: reading an answer within a whole-request deadline and a size cap;
- `retry_after`: reading `Retry-After` (seconds or an HTTP date), capped;
- `secrets`: keeping configured tokens out of every log line and error message.
"""
