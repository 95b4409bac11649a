"""regbench's built-in metrics."""
