"""Small pieces every part uses: atomic file writes, hashes of settings and code."""
