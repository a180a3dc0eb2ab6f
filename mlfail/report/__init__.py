"""Typed report models and their renderers. Renderers compute nothing."""
