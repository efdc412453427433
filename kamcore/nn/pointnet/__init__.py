"""PointNet blocks and the point-cloud representation shared by the VAE and the WGAN-GP.

PointNet (Qi et al., arXiv:1612.00593; generative-models paper, sec. 3.1) reads an
unordered set of ``P`` points with ``F`` features each, ``x`` of shape ``(B, P, F)``:

    x'   = [x_xyz A_in, x_rest]                  A_in = T_in(x_xyz)        (B, 3, 3)
    h    = phi_1(x')                             shared MLP               (B, P, C1)
    h'   = h A_feat                              A_feat = T_feat(h)       (B, C1, C1)
    g    = max_p phi_2(h')                       shared MLP + max pool    (B, G)

``phi`` is applied to every point with the same weights (a 1x1 convolution), and the
max over points makes ``g`` invariant to the order of the points.  ``T_in`` and
``T_feat`` are the spatial-transform networks ("stn" and "fstn" of the paper's Fig. 2):
small PointNets of their own whose fully connected head emits a ``k x k`` matrix,
initialised to the identity.  The feature transform is pulled towards an orthogonal
matrix by :func:`orthogonality_loss` ``||I - A A^T||_F^2``.

Choice (documented in DESIGN 5 terms): the input transform is ``3 x 3`` and acts on the
PMT coordinates only, as in PointNet, where it aligns the spatial frame.  Mixing time
and charge into the coordinates with a ``k x k`` transform over all features has no
physical meaning (they are not a vector under rotations), so ``t``, ``q`` and the
trigger channel pass through unchanged.

Representation of one event (the paper's "concentric double sphere", DESIGN 4), built
by :class:`PointCloudScaler` from ``kamcore.preprocess.point_clouds`` output:

    features[p] = s_p * [x_p / R, y_p / R, z_p / R, (t_p - mu_t) / sigma_t,
                         (log q_p - mu_lq) / sigma_lq, 1]                   (P, 6)

with ``s_p = 1`` for a triggered PMT and ``0`` otherwise (untriggered PMTs sit at the
origin), ``R`` the PMT-sphere radius (cm), ``mu_t, sigma_t`` (ns) and ``mu_lq,
sigma_lq`` (log p.e.) fitted on the triggered hits of the training set.  The last
channel is the trigger bit.  For generator output ``s_p`` is the trigger probability
``sigmoid(logit_p)`` (differentiable, used by the WGAN critic) or a Bernoulli draw.
The statistics are buffers, so the inverse transform travels with the checkpoint.

Shape letters: B batch, P points (= PMTs, 1879 for the detector), F features,
C channels, G global feature width, k transform size.

Modules: :mod:`.layers` (shared MLP, transform net, orthogonality loss), :mod:`.encoder`
(:class:`PointNetEncoder`), :mod:`.scaler` (:class:`PointCloudScaler`), :mod:`.decoder`
(:class:`PMTDecoder`), :mod:`.sampling` (:func:`sample_hits`, :class:`TriggerDraws`),
:mod:`.calibration` (:class:`OutputCalibration`).
"""

from .calibration import OutputCalibration
from .decoder import PMTDecoder
from .encoder import PointNetEncoder, PointNetOutput
from .layers import N_FEATURES, SharedMLP, TransformNet, orthogonality_loss
from .sampling import SAMPLE_CHUNK, TRIGGER_LEVELS, HitSample, TriggerDraws, sample_hits
from .scaler import PointCloudScaler

__all__ = [
    "N_FEATURES",
    "orthogonality_loss",
    "SharedMLP",
    "TransformNet",
    "PointNetEncoder",
    "PointNetOutput",
    "PointCloudScaler",
    "PMTDecoder",
    "HitSample",
    "SAMPLE_CHUNK",
    "TRIGGER_LEVELS",
    "TriggerDraws",
    "sample_hits",
    "OutputCalibration",
]
