"""Rate limits: headers on every call, 429 with X-Rate-Limit-Problem and Retry-After for the
minute, day, app-minute and concurrent limits; fixed windows on the sandbox clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.fixtures.sandbox import Sandbox


def _get(sandbox: Sandbox, headers: dict[str, str]) -> requests.Response:
    return requests.get(sandbox.api_url + "/Organisation", headers=headers, timeout=10)


def test_remaining_headers_on_every_response(sandbox: Sandbox) -> None:
    headers = sandbox.headers()
    first, second = _get(sandbox, headers), _get(sandbox, headers)
    assert int(first.headers["X-MinLimit-Remaining"]) == 59
    assert int(second.headers["X-MinLimit-Remaining"]) == 58
    assert int(second.headers["X-DayLimit-Remaining"]) == 4998
    assert int(second.headers["X-AppMinLimit-Remaining"]) == 9998
    bad = requests.get(
        sandbox.api_url + "/Contacts", headers=headers, params={"where": "Nope==1"}, timeout=10
    )
    assert bad.status_code == 400 and "X-MinLimit-Remaining" in bad.headers


def test_minute_limit_429_then_window_resets(sandbox: Sandbox) -> None:
    sandbox.control.config(minute_limit=3, minute_seconds=30)
    headers = sandbox.headers()
    assert [_get(sandbox, headers).status_code for _ in range(3)] == [200, 200, 200]
    limited = _get(sandbox, headers)
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    retry = int(limited.headers["Retry-After"])
    assert 1 <= retry <= 30
    sandbox.control.advance_clock(retry)
    assert _get(sandbox, headers).status_code == 200


def test_minute_window_in_real_time(sandbox: Sandbox) -> None:
    import time

    sandbox.control.config(minute_limit=2, minute_seconds=1)
    headers = sandbox.headers()
    codes = [_get(sandbox, headers).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    time.sleep(1.05)
    assert _get(sandbox, headers).status_code == 200


def test_day_limit_has_long_retry_after(sandbox: Sandbox) -> None:
    sandbox.control.config(day_limit=2)
    headers = sandbox.headers()
    _get(sandbox, headers), _get(sandbox, headers)
    limited = _get(sandbox, headers)
    assert limited.status_code == 429 and limited.headers["X-Rate-Limit-Problem"] == "day"
    assert int(limited.headers["Retry-After"]) > 86000


def test_limits_are_per_tenant(sandbox: Sandbox) -> None:
    other = sandbox.control.add_tenant("Other Org")
    sandbox.control.config(minute_limit=1)
    tokens = sandbox.control.authorize()
    from xerosync.sandbox.control import api_headers

    assert _get(sandbox, api_headers(tokens)).status_code == 200
    assert _get(sandbox, api_headers(tokens)).status_code == 429
    assert _get(sandbox, api_headers(tokens, other)).status_code == 200


def test_app_minute_limit(sandbox: Sandbox) -> None:
    other = sandbox.control.add_tenant("Other Org")
    sandbox.control.config(app_minute_limit=2)
    from xerosync.sandbox.control import api_headers

    tokens = sandbox.control.authorize()
    _get(sandbox, api_headers(tokens))
    _get(sandbox, api_headers(tokens, other))
    limited = _get(sandbox, api_headers(tokens, other))
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "appminute"


def test_concurrent_limit(sandbox: Sandbox) -> None:
    sandbox.control.config(concurrent_limit=2, latency_ms=400)
    headers = sandbox.headers()
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda _: _get(sandbox, headers), range(5)))
    limited = [r for r in responses if r.status_code == 429]
    assert len([r for r in responses if r.status_code == 200]) >= 2
    assert limited and all(r.headers["X-Rate-Limit-Problem"] == "concurrent" for r in limited)
    assert all(r.headers["Retry-After"] == "1" for r in limited)


def test_control_endpoints_are_never_limited(sandbox: Sandbox) -> None:
    sandbox.control.config(minute_limit=1)
    for _ in range(5):
        sandbox.control.records("Contacts")
    assert _get(sandbox, sandbox.headers()).status_code == 200


def test_a_window_opens_with_the_first_call_after_the_last_one_closed(sandbox: Sandbox) -> None:
    """Not on a clock boundary: the window a call opens lasts a whole window from that call,
    and a call one moment before it ends still counts in it (xerosync's budget cannot align
    with Xero's windows, and must not need to)."""
    sandbox.control.config(minute_limit=2, minute_seconds=30)
    headers = sandbox.headers()
    sandbox.control.advance_clock(7.3)  # no call yet: nothing opened, nothing to align with
    assert [_get(sandbox, headers).status_code for _ in range(2)] == [200, 200]
    sandbox.control.advance_clock(29.5)
    assert _get(sandbox, headers).status_code == 429
    sandbox.control.advance_clock(0.6)
    opener = _get(sandbox, headers)
    assert opener.status_code == 200 and opener.headers["X-MinLimit-Remaining"] == "1"
    sandbox.control.advance_clock(29.5)  # within the window the opener opened
    assert [_get(sandbox, headers).status_code for _ in range(2)] == [200, 429]


def test_starter_tier_has_a_thousand_calls_a_day(sandbox: Sandbox) -> None:
    config = sandbox.control.config(tier="starter")
    assert config["tier"] == "starter" and config["day_limit"] == 1000
    assert int(_get(sandbox, sandbox.headers()).headers["X-DayLimit-Remaining"]) == 999
    for tier in ("core", "plus", "advanced"):
        assert sandbox.control.config(tier=tier)["day_limit"] == 5000


def test_an_explicit_day_limit_wins_over_the_tier(sandbox: Sandbox) -> None:
    assert sandbox.control.config(tier="starter", day_limit=2)["day_limit"] == 2
    headers = sandbox.headers()
    assert _get(sandbox, headers).status_code == 200
    assert _get(sandbox, headers).status_code == 200
    limited = _get(sandbox, headers)
    assert limited.status_code == 429 and limited.headers["X-Rate-Limit-Problem"] == "day"


def test_an_unknown_tier_is_refused(sandbox: Sandbox) -> None:
    response = requests.post(sandbox.url + "/_sandbox/config", json={"tier": "gold"}, timeout=10)
    assert response.status_code == 400 and "starter" in response.text


def test_a_tier_given_at_start_up_survives_a_reset() -> None:
    from xerosync.sandbox.control import SandboxControl, api_headers
    from xerosync.sandbox.server import start_in_thread

    with start_in_thread(tier="starter") as running:
        control = SandboxControl(running.url)
        control.config(tier="core")
        control.reset()
        assert control.config()["day_limit"] == 1000
        response = requests.get(
            running.url + "/api.xro/2.0/Organisation",
            headers=api_headers(control.authorize()),
            timeout=10,
        )
        assert response.headers["X-DayLimit-Remaining"] == "999"


def test_minute_and_day_limits_are_per_app_and_tenant(sandbox: Sandbox) -> None:
    """Two apps connected to one organisation are two connections, each with its limits."""
    from xerosync.sandbox.control import api_headers

    sandbox.control.config(minute_limit=1)
    mine, theirs = sandbox.control.authorize(), sandbox.control.authorize(client_id="other-app")
    assert _get(sandbox, api_headers(mine)).status_code == 200
    assert _get(sandbox, api_headers(mine)).status_code == 429
    answer = _get(sandbox, api_headers(theirs))
    assert answer.status_code == 200 and answer.headers["X-AppMinLimit-Remaining"] == "9999"


def test_app_minute_limit_spans_every_tenant_and_token_of_the_app(sandbox: Sandbox) -> None:
    from xerosync.sandbox.control import api_headers

    others = [sandbox.control.add_tenant(f"Org {n}") for n in range(3)]
    sandbox.control.config(app_minute_limit=4)
    first, second = sandbox.control.authorize(), sandbox.control.authorize()
    statuses = [
        _get(sandbox, api_headers(token, tenant)).status_code
        for token, tenant in [(first, others[0]), (second, others[1]), (first, others[2])]
    ]
    custom = sandbox.control.client_credentials()
    statuses.append(_get(sandbox, api_headers(custom)).status_code)
    assert statuses == [200, 200, 200, 200]
    limited = _get(sandbox, api_headers(second, others[2]))
    assert limited.status_code == 429 and limited.headers["X-Rate-Limit-Problem"] == "appminute"
    assert limited.headers["X-AppMinLimit-Remaining"] == "0"
    assert int(limited.headers["Retry-After"]) >= 1
    assert _get(sandbox, api_headers(first, others[0])).status_code == 429
    theirs = sandbox.control.authorize(client_id="other-app")
    assert _get(sandbox, api_headers(theirs, others[0])).status_code == 200
