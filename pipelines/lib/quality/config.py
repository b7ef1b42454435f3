"""The validation settings and each rule's reason and severity (``validation.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib.schema import HOLD_REASONS, SEVERITIES

CONFIG_FILE = "validation.toml"


class ConfigError(ValueError):
    """validation.toml is missing a rule, names an unknown one, or has a bad value."""


@dataclass(frozen=True)
class RuleConfig:
    reason: str
    severity: str


@dataclass(frozen=True)
class ValidationConfig:
    rules: dict[str, RuleConfig]
    duplicate_window_hours: float
    high_risk_order_total_usd: float
    release_payment_statuses: tuple[str, ...]
    on_account_channels: tuple[str, ...]

    def rule(self, name: str) -> RuleConfig:
        return self.rules[name]


def load_config(reference_dir: Path, known_rules: tuple[str, ...]) -> ValidationConfig:
    """Read and check ``validation.toml``; every rule in ``known_rules`` must be configured."""
    path = reference_dir / CONFIG_FILE
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    rules_raw = data.get("rules", {})
    missing = sorted(set(known_rules) - set(rules_raw))
    unknown = sorted(set(rules_raw) - set(known_rules))
    if missing or unknown:
        raise ConfigError(
            f"{path}: "
            + "; ".join(
                part
                for part in (
                    f"rules not configured: {', '.join(missing)}" if missing else "",
                    f"unknown rules: {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )
    rules = {}
    for name, raw in rules_raw.items():
        reason, severity = raw.get("reason"), raw.get("severity")
        if reason not in HOLD_REASONS:
            raise ConfigError(
                f"{path}: rule {name}: reason {reason!r} is not one of {', '.join(HOLD_REASONS)}"
            )
        if severity not in SEVERITIES:
            raise ConfigError(f"{path}: rule {name}: severity {severity!r} is not hold or warn")
        rules[name] = RuleConfig(reason, severity)
    settings = data.get("settings", {})
    try:
        return ValidationConfig(
            rules=rules,
            duplicate_window_hours=float(settings["duplicate_window_hours"]),
            high_risk_order_total_usd=float(settings["high_risk_order_total_usd"]),
            release_payment_statuses=tuple(settings["release_payment_statuses"]),
            on_account_channels=tuple(settings["on_account_channels"]),
        )
    except KeyError as exc:
        raise ConfigError(f"{path}: [settings] has no {exc.args[0]}") from None
