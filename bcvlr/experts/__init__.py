"""Experts that produce the videos: scripted policies and the RL trainers' entry points."""
