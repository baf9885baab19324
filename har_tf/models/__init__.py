"""Models: PoseFormerFactorized, the image encoder, fusion, baselines (issues #3, #4, #9).

Nothing is here yet; see ARCHITECTURE in the README for what this room will hold.
"""
