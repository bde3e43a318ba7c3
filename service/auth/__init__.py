"""Authentication: learner bearer tokens and API keys with roles."""
