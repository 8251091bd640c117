# Connection stage: rounds of plan (reads the database) -> connect jobs -> ingest (the one writer).


def connection_targets():
    return []
