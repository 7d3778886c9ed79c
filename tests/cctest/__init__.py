"""Shared test support: databases on both backends, personas, servers."""
