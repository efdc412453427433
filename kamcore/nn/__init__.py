"""Neural networks of kamcore: KamNet (spherical CNN + AttentionConvLSTM), the CNN baseline, the generators.

One mathematical object per module, each opening with its math and shapes:

- :mod:`~kamcore.nn.grid`: the SOFT sampling grid, its quadrature weights, kernel grids.
- :mod:`~kamcore.nn.wigner`: Wigner d/D matrices (ZYZ, Condon-Shortley) and SOFT tables.
- :mod:`~kamcore.nn.s2fft`, :mod:`~kamcore.nn.so3fft`: Fourier transforms on S2 and SO(3).
- :mod:`~kamcore.nn.s2conv`, :mod:`~kamcore.nn.so3conv`: equivariant convolutions.
- :mod:`~kamcore.nn.so3integrate`: Haar integration over SO(3) (invariant pooling).
- :mod:`~kamcore.nn.rotation`: rotating sampled signals (grid permutations, Wigner-D).
- :mod:`~kamcore.nn.convlstm`: ConvLSTM over the time slices with KamNet's temporal attention.
- :mod:`~kamcore.nn.kamnet`: KamNet and its presets; :mod:`~kamcore.nn.cnn`: the planar CNN baseline.
- :mod:`~kamcore.nn.pointnet`, :mod:`~kamcore.nn.vae`, :mod:`~kamcore.nn.wgan`: the event generators.

Layouts: S2 signals ``(B, C, 2b, 2b)`` (beta, alpha); SO(3) signals ``(B, C, 2b, 2b, 2b)``
(beta, alpha, gamma); spectra padded to ``(..., L, 2L-1)`` and ``(..., L, 2L-1, 2L-1)``.
Everything follows the device and dtype of its input (float32 or float64).
"""

from .cnn import CNN_PRESETS, CNNConfig, ConventionalCNN
from .convlstm import AttentionConvLSTM, ConvLSTMCell
from .grid import (
    s2_equatorial_grid,
    s2_near_identity_grid,
    so3_equatorial_grid,
    so3_near_identity_grid,
    soft_alpha,
    soft_beta,
    soft_quadrature_weights,
)
from .rotation import (
    euler_to_matrix,
    matrix_to_euler,
    random_rotation,
    rotate_s2_coeffs,
    rotate_s2_grid,
    rotate_s2_spectral,
    rotate_so3_coeffs,
    rotate_so3_grid,
    rotate_so3_spectral,
)
from .kamnet import KAMNET_PRESETS, KamNet, KamNetConfig
from .pointnet import PointCloudScaler, PointNetEncoder
from .s2conv import S2Convolution
from .s2fft import s2_fft, s2_ifft
from .so3conv import SO3Convolution
from .so3fft import so3_fft, so3_ifft
from .so3integrate import SO3Integrate, so3_integrate
from .vae import VAE_PRESETS, PointNetVAE, VAEConfig
from .wgan import GAN_PRESETS, GANConfig, PointCloudWGAN
from .wigner import wigner_D, wigner_d, wigner_d_soft

__all__ = [
    "KamNet", "KamNetConfig", "KAMNET_PRESETS", "AttentionConvLSTM", "ConvLSTMCell",
    "ConventionalCNN", "CNNConfig", "CNN_PRESETS",
    "PointNetEncoder", "PointCloudScaler", "PointNetVAE", "VAEConfig", "VAE_PRESETS",
    "PointCloudWGAN", "GANConfig", "GAN_PRESETS",
    "S2Convolution", "SO3Convolution", "SO3Integrate", "so3_integrate",
    "s2_fft", "s2_ifft", "so3_fft", "so3_ifft",
    "wigner_d", "wigner_D", "wigner_d_soft",
    "soft_beta", "soft_alpha", "soft_quadrature_weights",
    "s2_near_identity_grid", "s2_equatorial_grid", "so3_near_identity_grid", "so3_equatorial_grid",
    "euler_to_matrix", "matrix_to_euler", "random_rotation",
    "rotate_s2_coeffs", "rotate_so3_coeffs", "rotate_s2_grid", "rotate_so3_grid",
    "rotate_s2_spectral", "rotate_so3_spectral",
]
