"""Export: SavedModel for TF Serving, TFLite with a quantisation switch, parity checks (issue #5).

Nothing is here yet; see ARCHITECTURE in the README for what this room will hold.
"""
