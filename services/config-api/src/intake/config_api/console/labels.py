"""The words (and icon names) the console shows for stored values: outcomes, inbox health, providers, times.

Pure. Registered as Jinja filters in `rendering`, so every page says the same thing the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from intake.config_api.providers import DISPLAY_NAMES, Provider

OUTCOMES: dict[str, tuple[str, str]] = {
    # outcome: (icon kind, words)
    "pending": ("unknown", "Pending"),
    "issue_created": ("ok", "Issue created"),
    "issue_updated": ("ok", "Issue updated"),
    "ignored_sender": ("disabled", "Ignored sender"),
    "unmatched_ignored": ("disabled", "Unmatched, ignored"),
    "auto_generated": ("disabled", "Auto-generated"),
    "duplicate": ("disabled", "Duplicate"),
    "rejected": ("warning", "Rejected"),
    "failed": ("error", "Failed"),
}

HEALTH: dict[str, tuple[str, str]] = {
    "ok": ("ok", "OK"),
    "error": ("error", "Error"),
    "needs_reauth": ("needs_reauth", "Needs sign-in"),
    "disabled": ("disabled", "Inactive"),
    "unknown": ("unknown", "Not checked yet"),
}


def outcome_label(outcome: str) -> str:
    """The words for an outcome; an unknown one is shown as it is.

    >>> outcome_label("issue_created"), outcome_label("new_kind")
    ('Issue created', 'new_kind')
    """
    return OUTCOMES.get(outcome, ("unknown", outcome))[1]


def outcome_icon(outcome: str) -> str:
    return OUTCOMES.get(outcome, ("unknown", outcome))[0]


def health_label(state: str) -> str:
    return HEALTH.get(state, ("unknown", state))[1]


def health_icon(state: str) -> str:
    return HEALTH.get(state, ("unknown", state))[0]


def provider_label(provider: str) -> str:
    try:
        return DISPLAY_NAMES[Provider(provider)]
    except ValueError:
        return provider


def when(moment: datetime | None) -> str:
    """A time as the console shows it: UTC, to the minute, ISO-like so it sorts and reads the same everywhere.

    >>> when(datetime(2026, 12, 6, 3, 4, 59, tzinfo=UTC)), when(None)
    ('2026-12-06 03:04 UTC', '—')
    """
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def start_of_day(now: datetime) -> datetime:
    """The start of `now`'s day in UTC: what "today" means for the counts on the inbox list.

    >>> start_of_day(datetime(2026, 12, 6, 3, 4, tzinfo=UTC)).isoformat()
    '2026-12-06T00:00:00+00:00'
    """
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def iso_utc(moment: datetime) -> str:
    """A time for a query string (the email log's `since`), in UTC.

    >>> iso_utc(datetime(2026, 12, 6, tzinfo=UTC))
    '2026-12-06T00:00:00Z'
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


STAGES = (("connect", "Connect"), ("tls", "TLS"), ("login", "Log in"), ("select", "Open the folder"))


def connection_stages(ok: bool, stage: str, encryption: str) -> list[tuple[str, str, str]]:
    """Each step of a connection test as (step, icon kind, words): passed, failed, not tried, or not used.

    >>> [words for _, _, words in connection_stages(False, "login", "ssl")]
    ['passed', 'passed', 'failed', 'not tried']
    >>> connection_stages(True, "select", "none")[1]
    ('TLS', 'disabled', 'not used (encryption: none)')
    """
    names = [name for name, _ in STAGES]
    failed_at = len(names) if ok else names.index(stage) if stage in names else 0
    rows = []
    for index, (name, words) in enumerate(STAGES):
        if name == "tls" and encryption == "none" and (ok or index < failed_at):
            rows.append((words, "disabled", "not used (encryption: none)"))
        elif index < failed_at:
            rows.append((words, "ok", "passed"))
        elif index == failed_at:
            rows.append((words, "error", "failed"))
        else:
            rows.append((words, "unknown", "not tried"))
    return rows


CONNECT_FAILURES = {
    "state_missing": "the provider's answer had no state; press Connect again",
    "state_unknown": "the provider's answer was not for a Connect started here; press Connect again",
    "state_used": "that sign-in was already completed once; press Connect again to reconnect",
    "state_expired": "the sign-in took too long; press Connect again",
    "provider_error": "the provider did not grant access (declined, or the client is not allowed)",
    "provider_unavailable": "the provider could not be reached to finish the sign-in; try again later",
    "code_missing": "the provider sent no authorisation code; press Connect again",
    "no_refresh_token": "the provider granted no offline access (no refresh token); press Connect again",
    "inbox_changed": "the inbox was changed or deleted while signing in",
}


def connect_failure(error: str | None) -> str:
    """Why Connect did not finish, in words, from the callback's error code.

    >>> connect_failure("state_expired"), connect_failure("something-else")
    ('the sign-in took too long; press Connect again', 'the provider did not complete the sign-in')
    """
    return CONNECT_FAILURES.get(error or "", "the provider did not complete the sign-in")
