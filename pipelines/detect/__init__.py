"""Signals: alerts on what rose unusually and causes that returned after their countermeasure, as one feed."""
