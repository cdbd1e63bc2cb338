"""synthcheck.theory: the paper's theorems as pure functions over numpy/torch (see docs/theory.md).

- :mod:`~synthcheck.theory.linear`, :mod:`~synthcheck.theory.linear_bounds`,
  :mod:`~synthcheck.theory.linear_experiment`: Theorem 1, the linear compressed classifier.
- :mod:`~synthcheck.theory.fragility`, :mod:`~synthcheck.theory.applied`, :mod:`~synthcheck.theory.mnist`:
  Theorem 2, the fragility ratio σ_max(J) / E‖J·o‖ of a differentiable map.
"""
