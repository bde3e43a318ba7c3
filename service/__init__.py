"""Activation Lab: why deep networks need normalization and careful initialization, as a service."""

from service.app import create_app

__all__ = ["create_app"]
