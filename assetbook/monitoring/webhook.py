"""Alerts as messages to a webhook: Slack's incoming-webhook JSON (`text`), which Slack,
Mattermost, Rocket.Chat and Teams' Slack-compatible connectors display as is, plus the alert's
fields for receivers that route on them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import httpx

SEND_TIMEOUT_S = 10.0

Event = Literal["check_failed", "run_failed", "freshness_failed"]
_TITLES: dict[str, str] = {"check_failed": "check failed", "run_failed": "run failed",
                           "freshness_failed": "freshness FAIL"}


@dataclass(frozen=True)
class Alert:
    """One event worth a person's attention."""

    event: Event
    project: str
    asset: str | None
    partition: str | None
    reason: str
    run_id: str | None
    at: str  # ISO time of the event

    def message(self) -> dict[str, object]:
        where = " ".join(part for part in (
            self.asset, f"[{self.partition}]" if self.partition else None) if part)
        text = f":rotating_light: {self.project}: {_TITLES[self.event]}" + (
            f" on {where}" if where else "") + f"\n{self.reason}"
        return {"text": text, **asdict(self)}


class WebhookError(Exception):
    """The webhook did not take an alert (unreachable, or not a 2xx): it is sent again later."""


def send(url: str, alert: Alert) -> None:
    """POST one alert; raises WebhookError if it was not delivered. The URL is a secret (a
    Slack webhook is its own credential): no error names it."""
    try:
        response = httpx.post(url, json=alert.message(), timeout=SEND_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise WebhookError(f"the webhook is unreachable: {exc}") from exc
    if not response.is_success:
        raise WebhookError(f"the webhook answered {response.status_code}: "
                           f"{response.text[:200]}")
