"""Inference: HARPredictor, pose estimators, streaming recognition, serving client (issues #5, #6).

Nothing is here yet; see ARCHITECTURE in the README for what this room will hold.
"""
