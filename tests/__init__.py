"""arzip test suite."""
