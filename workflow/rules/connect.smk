# Connection stage: rounds of plan (reads the database) -> connect jobs -> ingest (the one writer).


def connection_targets():
    return []


def final_receipts(landscape):
    """The files after which a landscape holds all its minima and transition states."""
    return [receipt_path(landscape, run, chunk) for run, chunk in chunks_of(landscape)]
