"""Baseline servers that speak partyray's frames without partyray."""

__all__: list[str] = []
