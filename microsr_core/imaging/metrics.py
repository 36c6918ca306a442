"""PSNR and SSIM under the SR paper convention (``shared/CONVENTIONS.md``).

- channel: Y of BT.601 studio-swing YCbCr (MATLAB ``rgb2ycbcr``), or RGB;
- border: ``crop_border`` pixels (the scale) shaved from every side of both images;
- data range 255 (images in [0, 1] are multiplied by 255, not rounded);
- SSIM: Wang et al. 2004, 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, population
  covariance, no downsampling (scikit-image with the options below; equals MATLAB/BasicSR);
- averaged per image by callers, never pooled over a batch.

The computations are scikit-image's ``peak_signal_noise_ratio`` and ``structural_similarity``;
this module only fixes their options and the crop. Masked variants average the squared error or
the SSIM map over the pixels of a boolean mask.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .color import rgb_to_y

DATA_RANGE = 255.0
#: Side of the SSIM window scikit-image uses for σ = 1.5 with Gaussian weights.
SSIM_WINDOW = 11
SSIM_OPTIONS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=DATA_RANGE)


def convention(crop_border: int, channel: str = "Y") -> str:
    """One line saying how a number was measured, shown next to every metric."""
    return (
        f"{channel} ({'BT.601 studio swing' if channel == 'Y' else 'all channels'}), border {crop_border} px shaved, "
        "data range 255, SSIM Gaussian 11x11 sigma 1.5 (Wang et al. 2004)"
    )


def _prepare(a: np.ndarray, b: np.ndarray, crop_border: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    return a.astype(np.float64) * DATA_RANGE, b.astype(np.float64) * DATA_RANGE


def psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0) -> float:
    """PSNR in dB of two [0, 1] images of the same shape ((H, W) or (H, W, C))."""
    a, b = _prepare(sr, hr, crop_border)
    if np.array_equal(a, b):
        return math.inf
    return float(peak_signal_noise_ratio(b, a, data_range=DATA_RANGE))


def ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, *, full: bool = False):
    """SSIM of two [0, 1] images ((H, W) or (H, W, C), channels averaged).

    With ``full=True`` returns ``(mean, map)``, the map cropped like the images.
    """
    a, b = _prepare(sr, hr, crop_border)
    channel_axis = 2 if a.ndim == 3 else None
    return structural_similarity(a, b, channel_axis=channel_axis, full=full, **SSIM_OPTIONS)


def psnr_y(sr_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int = 0) -> float:
    """PSNR on Y of two RGB images in [0, 1] (the SR paper number)."""
    return psnr(rgb_to_y(sr_rgb), rgb_to_y(hr_rgb), crop_border)


def ssim_y(sr_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int = 0) -> float:
    """SSIM on Y of two RGB images in [0, 1]."""
    return float(ssim(rgb_to_y(sr_rgb), rgb_to_y(hr_rgb), crop_border))


def ssim_map_y(sr_rgb: np.ndarray, hr_rgb: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM on Y, same size as the images (for display)."""
    return ssim(rgb_to_y(sr_rgb), rgb_to_y(hr_rgb), 0, full=True)[1].astype(np.float32)


def error_map_y(sr_rgb: np.ndarray, hr_rgb: np.ndarray) -> np.ndarray:
    """Absolute Y difference in 8-bit units, same size as the images (for display)."""
    return (np.abs(rgb_to_y(sr_rgb) - rgb_to_y(hr_rgb)) * DATA_RANGE).astype(np.float32)


def masked_psnr_y(sr_rgb: np.ndarray, hr_rgb: np.ndarray, mask: np.ndarray, crop_border: int = 0) -> float:
    """PSNR on Y over the pixels where ``mask`` is true (NaN when the mask is empty)."""
    a, b = _prepare(rgb_to_y(sr_rgb), rgb_to_y(hr_rgb), crop_border)
    m = _crop_mask(mask, crop_border)
    if not m.any():
        return math.nan
    mse = float(np.mean((a[m] - b[m]) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE**2 / mse)


def masked_ssim_y(sr_rgb: np.ndarray, hr_rgb: np.ndarray, mask: np.ndarray, crop_border: int = 0) -> float:
    """Mean of the Y SSIM map over the pixels where ``mask`` is true (NaN when empty)."""
    _, full_map = ssim(rgb_to_y(sr_rgb), rgb_to_y(hr_rgb), crop_border, full=True)
    m = _crop_mask(mask, crop_border).copy()
    # scikit-image averages the map without its outer (window - 1) / 2 pixels; do the same.
    edge = (SSIM_WINDOW - 1) // 2
    m[:edge], m[-edge:], m[:, :edge], m[:, -edge:] = False, False, False, False
    return float(full_map[m].mean()) if m.any() else math.nan


def _crop_mask(mask: np.ndarray, crop_border: int) -> np.ndarray:
    mask = mask.astype(bool)
    return mask[crop_border:-crop_border, crop_border:-crop_border] if crop_border else mask


def measure(sr_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int, mask: np.ndarray | None = None) -> dict[str, float]:
    """All headline numbers of one (SR, HR) pair: Y and RGB PSNR/SSIM, and inside ``mask``."""
    result = {
        "psnr_y": psnr_y(sr_rgb, hr_rgb, crop_border),
        "ssim_y": ssim_y(sr_rgb, hr_rgb, crop_border),
        "psnr_rgb": psnr(sr_rgb, hr_rgb, crop_border),
        "ssim_rgb": float(ssim(sr_rgb, hr_rgb, crop_border)),
    }
    if mask is not None:
        result["psnr_y_mask"] = masked_psnr_y(sr_rgb, hr_rgb, mask, crop_border)
        result["ssim_y_mask"] = masked_ssim_y(sr_rgb, hr_rgb, mask, crop_border)
    return result


def gradient_energy_ratio(sr_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int = 0) -> float:
    """Sharpness of SR relative to HR: mean squared Sobel gradient of SR's Y over HR's.

    1 means as much edge energy as the reference; below 1 is blurrier (the usual PSNR-trained
    result), above 1 over-sharpened or noisy. Y in [0, 255] as for PSNR, ``crop_border``
    pixels shaved.
    """
    from scipy import ndimage

    def energy(rgb: np.ndarray) -> float:
        y = rgb_to_y(rgb).astype(np.float64) * 255.0
        if crop_border:
            y = y[crop_border:-crop_border, crop_border:-crop_border]
        return float(np.mean(ndimage.sobel(y, 0) ** 2 + ndimage.sobel(y, 1) ** 2))

    return energy(sr_rgb) / max(energy(hr_rgb), 1e-12)


#: How :func:`stain_fidelity` measures, shown beside its numbers.
STAIN_CONVENTION = ("CIEDE2000 colour difference per pixel (scikit-image deltaE_ciede2000, kL = kC = kH = 1) between "
                    "CIE Lab (D65, 2°) of the result and of the HR reference, sRGB input; mean and 95th percentile; "
                    "about 1 is a just-noticeable difference, lower is truer colour")


def delta_e_map(sr_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int = 0) -> np.ndarray:
    """Per-pixel CIEDE2000 colour difference (:data:`STAIN_CONVENTION`) of two RGB images of one shape."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    if sr_rgb.shape != hr_rgb.shape:
        raise ValueError(f"images differ in shape: {sr_rgb.shape} vs {hr_rgb.shape}")
    inner = (slice(crop_border, -crop_border),) * 2 if crop_border else (slice(None),) * 2
    a, b = (np.clip(np.asarray(x, dtype=np.float64)[inner], 0.0, 1.0) for x in (sr_rgb, hr_rgb))
    return deltaE_ciede2000(rgb2lab(a), rgb2lab(b)) if a.size else np.empty((0, 0))


def stain_fidelity(sr_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int = 0) -> dict[str, float]:
    """Mean and 95th-percentile CIEDE2000 colour difference between two RGB images.

    Stains are judged by colour, which the Y-only PSNR/SSIM ignore (Sharma, Wu & Dalal 2005 for
    the formula). Both images are float RGB in [0, 1] of the same shape; ``crop_border`` px are
    shaved from every side first.

    Returns
    -------
    dict with ``delta_e_mean`` and ``delta_e_p95`` (NaN for an empty image).
    """
    difference = delta_e_map(sr_rgb, hr_rgb, crop_border)
    if difference.size == 0:
        return {"delta_e_mean": math.nan, "delta_e_p95": math.nan}
    return {"delta_e_mean": float(difference.mean()), "delta_e_p95": float(np.percentile(difference, 95))}


#: ΔE00 above which a pixel's colour is clearly off the reference, and below which bicubic's counts as right.
INVENTED_COLOUR_DE, FAITHFUL_COLOUR_DE = 6.0, 3.0


def invented_colour(sr_rgb: np.ndarray, bicubic_rgb: np.ndarray, hr_rgb: np.ndarray, crop_border: int = 0) -> float:
    """Share (%) of pixels whose colour a method put clearly off the HR's (ΔE00 > 6) where
    bicubic's colour is right (ΔE00 < 3): colour the method invented, not colour the LR lost."""
    return invented_colour_share(delta_e_map(sr_rgb, hr_rgb, crop_border), delta_e_map(bicubic_rgb, hr_rgb, crop_border))


def invented_colour_share(method_delta_e: np.ndarray, bicubic_delta_e: np.ndarray) -> float:
    """:func:`invented_colour` from the method's and bicubic's ΔE00 maps against the HR (:func:`delta_e_map`),
    so that bicubic's map of an image can be computed once for every method."""
    if method_delta_e.size == 0:
        return math.nan
    return float(100 * np.mean((method_delta_e > INVENTED_COLOUR_DE) & (bicubic_delta_e < FAITHFUL_COLOUR_DE)))


def iou_per_class(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """Intersection over union of each class of two label images of one image.

    Parameters
    ----------
    pred, target : ndarray of int, same shape
        Class labels in ``0 .. num_classes - 1`` (for parsing maps:
        :data:`microsr_core.imaging.parsing.CLASSES`).

    Returns
    -------
    ndarray, (num_classes,) float64
        |pred = c ∧ target = c| / |pred = c ∨ target = c|; NaN for a class absent from both.
    """
    if pred.shape != target.shape:
        raise ValueError(f"label images differ in shape: {pred.shape} vs {target.shape}")
    pred = pred.ravel().astype(np.int64)
    target = target.ravel().astype(np.int64)
    for name, labels in (("pred", pred), ("target", target)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
    confusion = np.bincount(target * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def mean_iou(pred: np.ndarray, target: np.ndarray, num_classes: int = 3) -> float:
    """Mean over classes of :func:`iou_per_class` for one image (classes absent from both skipped).

    Averaged per image by callers, like PSNR. NaN only when both images are empty.
    """
    ious = iou_per_class(pred, target, num_classes)
    return float(np.nanmean(ious)) if not np.isnan(ious).all() else math.nan
