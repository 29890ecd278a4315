"""Composition root and console scripts."""
