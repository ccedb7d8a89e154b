"""The Singer SDK's standard tap tests, run against the sandbox (all configured vendors)."""

from __future__ import annotations

import atexit
import datetime as dt

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox.apps import SANDBOX_VENDORS
from sandbox.server import Sandbox
from tap_chatbot_reports.tap import TapChatbotReports

_TODAY = dt.datetime.now(dt.UTC).date()
_START = _TODAY - dt.timedelta(days=10)
_APPS = {v.key: v.make_app(_START, _TODAY, 3) for v in SANDBOX_VENDORS}
_SANDBOX = Sandbox(list(_APPS.values())).start()
atexit.register(_SANDBOX.stop)

SAMPLE_CONFIG: dict[str, object] = {
    "start_date": f"{_START.isoformat()}T00:00:00+00:00",
    "end_date": f"{(_TODAY - dt.timedelta(days=1)).isoformat()}T23:59:59+00:00",
    "backoff_factor": 0,
}
for _vendor in SANDBOX_VENDORS:
    _section = _vendor.demo_config(_APPS[_vendor.key], _SANDBOX.url)
    if _section is not None:
        SAMPLE_CONFIG[_vendor.key] = _section

TestTapChatbotReports = get_tap_test_class(
    tap_class=TapChatbotReports,
    config=SAMPLE_CONFIG,
    suite_config=SuiteConfig(
        max_records_limit=None,
        # v1 has no session-label list endpoint (see README): that stream is empty by design.
        ignore_no_records_for_streams=["jaicp_session_labels"],
    ),
)
