"""Data sets: LJAT3 pools, handwritten digits / MNIST, training draws with label noise."""
