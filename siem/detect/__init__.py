"""Sigma detection: loading (pySigma), compiling, indexing, matching, correlation, routing."""
