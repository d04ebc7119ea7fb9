"""Built-in compliance measurement ``log_integrity``: the store's seal chain verifies.

The value is the number of broken seals (see siem/integrity/verify.py); event digests are
recomputed for the batches sealed in the check's window (or the scan's ``--since``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siem.compliance.model import FAIL, PASS, Check, CheckResult
from siem.integrity.verify import iter_lines, verify

if TYPE_CHECKING:
    from siem.compliance.runner import ScanContext


def log_integrity(check: Check, context: ScanContext) -> CheckResult:
    """Verify the store's seals; fail on any broken one."""
    outcome = verify(context.store, since=context.window_start(check))
    value = float(outcome.problem_count)
    result = CheckResult(check, PASS if check.passes(value) else FAIL, value=value)
    result.details.extend(iter_lines(outcome))
    return result
