"""demo-agent: host metrics over HTTP on 127.0.0.1."""

__version__ = "0.1.0"
