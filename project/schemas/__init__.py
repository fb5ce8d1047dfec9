"""Pandera schemas that validate data, referenced from specs as `module:Name`."""
