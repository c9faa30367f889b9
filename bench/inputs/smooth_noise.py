"""Multi-scale variability for the 0.25-degree benchmark inputs (gen_era5.py, gen_remote_store.py): smooth
random structures plus small grid-scale noise, so the data compresses like real fields rather than like
constants or white noise."""
import numpy as np


def smooth_noise(rng):
    """One 721 x 1440 float32 plane drawn from `rng` (a numpy Generator)."""
    coarse = rng.standard_normal((46, 91))
    fine = np.kron(coarse, np.ones((16, 16)))[:721, :1440]
    k = np.ones(9) / 9
    fine = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, fine)
    fine = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, fine)
    return (3 * fine + 0.2 * rng.standard_normal((721, 1440))).astype(np.float32)
