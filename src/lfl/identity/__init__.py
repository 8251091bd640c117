"""Identity of stationary points: whether two points are the same minimum (energy window, then a
symmetry-aligned distance), as pure functions over arrays. Below the exploration and the database in
the package's layers: basin-hopping's chunks and the store's deduplicating ingest use the same rule,
and neither reaches into the other for it."""
