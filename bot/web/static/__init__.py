"""Style sheet and the little JavaScript of the web console (every page works without it)."""
