"""Blind source finding, association across epochs, and new sources.

Plain science code, usable in a notebook without Dagster:

- :mod:`.finder`: PyBDSF on a tile image or mosaic, beam-corrected fluxes.
- :mod:`.association`: de Ruiter association with the master catalog and earlier new sources.
- :mod:`.measure`: one image through finding, association and forced photometry into the products DB.
- :mod:`.new_sources`: a day's new sources ranked by significance against earlier images; cut-outs.
- :mod:`.injection`: simulated tiles with injected sources, and the scoring of a finder.
"""
