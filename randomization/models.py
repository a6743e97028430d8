"""Models of the randomization app."""
