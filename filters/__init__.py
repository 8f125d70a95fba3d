"""Quality filters: each scores samples and marks the ones it fails, with a reason."""
