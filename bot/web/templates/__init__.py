"""Templates of the web console and the public page."""
