"""drivers-agent: one probe per C-library driver an agent ships."""

__version__ = "0.1.0"
