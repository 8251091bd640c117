rule all:
    input:
        [draw_path(stem) for stem in DRAWS],
        minima_receipts(),
