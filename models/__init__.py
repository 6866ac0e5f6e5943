"""Shipped model files (installed as the package arzip.models); see manifest.json."""
