"""Running one experiment in a fresh, locked-down Docker container."""
