"""regbench's built-in datasets, one plugin module each."""
