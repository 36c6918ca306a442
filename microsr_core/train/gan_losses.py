"""Losses of MicroGAN training (Gautam et al. §2): WGAN-GP and the content loss.

- :func:`gradient_penalty`: Gulrajani et al. 2017, eq. (3): ``E[(‖∇D(x̂)‖₂ − 1)²]`` on random
  interpolates ``x̂ = α·real + (1 − α)·fake``, the norm taken per sample over the whole
  flattened sample, and built with ``create_graph=True`` so the critic's update
  differentiates through it.
- :class:`VGGContentLoss`: the paper's perceptual loss, the mean squared difference of VGG19
  feature maps (``conv3_3`` by default, as in DeblurGAN, whose λ = 100 MicroGAN takes). The
  ImageNet weights cannot be downloaded here, so they are read from a local file the user
  names (:func:`microsr_core.models.weights.load_vgg19_features`).
- :class:`PixelContentLoss`: the content loss used when no VGG file is given:
  ``L1 + (1 − SSIM)`` on RGB in [0, 1], SSIM as Wang et al. 2004 (11×11 Gaussian window,
  σ = 1.5). L1 keeps colours and brightness exact, SSIM rewards local structure and contrast;
  together they are the pixel-space loss found best for restoration by Zhao et al. (IEEE TCI
  2017), and, unlike features of networks trained on this very data, they cannot reward
  artefacts the features are blind to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``mean_i (‖∇ₓ D(x̂_i)‖₂ − 1)²`` on random interpolates.

    Parameters
    ----------
    critic : module mapping (N, C, H, W) to (N,) scores
    real, fake : tensor, shape (N, C, H, W)
        Both are detached; one α ~ U[0, 1] per sample mixes them.
    generator : torch.Generator, optional
        Source of α (for reproducible tests).

    Returns
    -------
    Scalar tensor, differentiable with respect to the critic's parameters.

    References
    ----------
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, Algorithm 1.
    """
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype, generator=generator)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # one norm per sample, not per pixel
    return ((norms - 1) ** 2).mean()


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    axis = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(axis**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.float()


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Differentiable SSIM per sample (Wang et al. 2004), channels averaged.

    11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, population statistics, computed
    only where the window fits (as scikit-image's ``structural_similarity`` with
    ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``, which it equals).

    Parameters
    ----------
    a, b : tensor, shape (N, C, H, W), H and W >= 11

    Returns
    -------
    tensor, shape (N,)
    """
    channels = a.shape[1]
    g = _gaussian_window().to(a.device, a.dtype)
    col = g.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    row = g.view(1, 1, 1, -1).expand(channels, 1, 1, -1)

    def blur(x):
        return F.conv2d(F.conv2d(x, col, groups=channels), row, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return value.mean(dim=(1, 2, 3))


class PixelContentLoss(nn.Module):
    """``mean |sr − hr| + (1 − SSIM(sr, hr))``, averaged over the batch (inputs in [0, 1]).

    Crops smaller than the 11×11 SSIM window use L1 alone.
    """

    description = "L1 + (1 - SSIM) on RGB (SSIM: 11x11 Gaussian window, sigma 1.5)"

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        loss = (sr - hr).abs().mean()
        if min(sr.shape[-2:]) >= 11:
            loss = loss + (1 - ssim(sr, hr)).mean()
        return loss


class VGGContentLoss(nn.Module):
    """Mean squared difference of VGG19 feature maps of SR and HR (the paper's perceptual loss).

    Inputs RGB in [0, 1] are normalised with the ImageNet mean and deviation first.
    """

    def __init__(self, features: nn.Sequential, layer: str = "conv3_3", source: str = ""):
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.description = f"MSE of VGG19 {layer} features (ImageNet weights from {source or 'a local file'})"

    def train(self, mode: bool = True):  # the feature extractor stays in eval mode
        return super().train(False)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        a = self.features((sr - self.mean) / self.std)
        b = self.features((hr - self.mean) / self.std)
        return F.mse_loss(a, b)
