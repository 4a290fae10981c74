"""Differentiable architecture search on feature sequences: Video-NAS (channel / depth / op search with a FLOPs
term and Viterbi decoding) and NAS-TC's Temp-DARTS cells."""

__all__: list[str] = []
