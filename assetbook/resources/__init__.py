"""Resources: where state lives and how artifacts are stored; local by default."""
