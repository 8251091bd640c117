"""Kinetics and thermodynamics of a landscape read as a kinetic transition network (SCIENCE.md §9):
the training loss E is the energy, T a fictitious temperature (k_B = 1), L the sum of ln of a
stationary point's positive Hessian eigenvalues (unit masses, point-group orders 1).

- :mod:`.network`: :class:`~.network.TransitionNetwork`, the arrays every function here reads;
- :mod:`.harmonic`: equilibrium occupations (harmonic superposition), the heat capacity C_V(T),
  harmonic transition-state rate constants of every transition state, both ways;
- :mod:`.graph_transformation`: rates and mean first-passage times between two sets of minima by
  graph transformation (NGT), exact on networks with dead ends and parallel transition states;
- :mod:`.master_equation`: the same numbers by dense linear algebra, the independent check for
  small networks;
- :mod:`.barriers`: the barrier of every minimum to the global minimum (minimax paths) and the
  funnel it drains to at a level.

Pure functions over arrays: nothing here reads the database.
"""
