"""Partition strategies: which room carries a channel, and where that room runs."""
