"""Times in words for the commands' text output (JSON keeps ISO times and seconds)."""

from __future__ import annotations

from datetime import datetime


def duration(seconds: float) -> str:
    """A duration read at a glance: 0.4 s, 12 s, 3 min 5 s, 25 min, 2 h 10 min, 3 days."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def ago(seconds: float) -> str:
    """Says "just now" under a second, else "4 s ago", "12 s ago", "3 min ago"."""
    if seconds < 1:
        return "just now"
    return f"{duration(seconds) if seconds >= 10 else f'{seconds:.0f} s'} ago"


def until(when: datetime, now: datetime) -> str:
    """Says "in 4 min 10 s", "now" when the time has come, or "overdue by 2 min"."""
    seconds = (when - now).total_seconds()
    if seconds > 0.5:
        return f"in {duration(seconds)}"
    if seconds > -30:
        return "now"
    return f"overdue by {duration(-seconds)}"


def since(iso: str, now: datetime) -> float:
    """Seconds from an ISO time to `now`."""
    return (now - datetime.fromisoformat(iso)).total_seconds()
