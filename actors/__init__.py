"""Rooms: plain room logic and the Ray actors that host it."""
