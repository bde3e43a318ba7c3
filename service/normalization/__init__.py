"""Normalization of submitted activations over HTTP (JSON, .npy and .npz)."""
