"""Training: stage-1 (pose) and stage-2 (fusion) fits, callbacks, metrics and reports (issues #3, #4).

Nothing is here yet; see ARCHITECTURE in the README for what this room will hold.
"""
