"""regbench's built-in registration methods, one plugin module each."""
