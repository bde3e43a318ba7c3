"""Development tools of this repository (not installed with the service)."""
