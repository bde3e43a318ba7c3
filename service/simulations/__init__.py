"""Variance propagation simulations over HTTP."""
