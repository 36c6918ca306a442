"""Command line: ``python -m microsr_core {upscale,upscale-batch,upscale-large,align,evaluate,assess,train,publish,models,cells,export-bioimageio,jobs} ...``.

Errors a user can cause (:class:`~microsr_core.errors.MicroSRError`) are printed as one line
on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from .errors import MicroSRError, ParameterError


def _name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


LR_KIND_HELP = "the kind of LR image, which picks the weights: bicubic (a synthetic downscale) or real (a camera capture)"
PRECISION_HELP = "network precision (auto: bf16 on CPUs that run it faster, fp32 on other CPUs, bf16/fp16 on CUDA)"


class _Bar:
    """A tqdm bar on stderr, fed by a core function's ``progress(done, total)`` callback: progress
    bars are the command line's, so the package's functions stay silent for the app and the jobs.
    Only the first process of a multi-process (torchrun) run draws one."""

    def __init__(self, unit: str, desc: str | None = None):
        self.unit, self.desc, self.bar = unit, desc, None

    def __call__(self, done: int, total: int, postfix: dict[str, float] | None = None) -> None:
        if self.bar is None:  # drawn from the first progress on: an early error prints alone
            from tqdm import tqdm

            self.bar = tqdm(unit=self.unit, desc=self.desc, leave=False, dynamic_ncols=True, disable=os.environ.get("RANK", "0") != "0")
        self.bar.total, self.bar.n = total, done
        if isinstance(postfix, dict):  # a training step's losses (a batch reports the item it finished)
            self.bar.set_postfix({key: f"{value:.4g}" for key, value in postfix.items()}, refresh=False)
        self.bar.refresh()

    def training(self, progress) -> None:
        """The callback of :func:`~microsr_core.train.loop.run_training` (a ``Progress`` per step)."""
        self(progress.step, progress.total, progress.validation or progress.losses)

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _cmd_upscale(args) -> int:
    from .imaging.capture_condition import estimate_condition
    from .imaging.capture_maps import CaptureAssumption
    from .models.catalog import choose_lr_kind
    from .models.inference import upscale
    from .imaging.io import load_image, output_format, save_image

    output_format(args.output)
    image = load_image(args.input)
    kind = choose_lr_kind(args.lr_kind, image)
    # 8-bit inputs are written as 8-bit: producing uint8 directly keeps huge outputs small.
    dtype = np.uint8 if image.bit_depth == 8 else np.float32
    condition = estimate_condition(image.pixels)  # printed, and read by weights trained with capture maps
    with _Bar("tile", f"{args.method} x{args.scale}") as bar:
        result = upscale(image.pixels, args.method, args.scale, device=args.device, tile=args.tile, progress=bar,
                         output_dtype=dtype, precision=args.precision, lr_kind=kind.kind,
                         capture=CaptureAssumption(args.noise, args.blur), condition=condition)
    save_image(args.output, result.image, bit_depth=image.bit_depth)
    print(f"{args.output}: {result.image.shape[1]}x{result.image.shape[0]} by {args.method} x{args.scale} "
          f"on {result.device} ({result.precision}) with {result.served.label()} in {result.seconds:.2f} s ({result.tiles} tile(s))")
    print(f"LR kind {kind.kind}: {kind.reason}")
    print(condition.line())
    if result.capture_maps is not None:
        print(result.capture_maps.line())
    return 0


def _cmd_align(args) -> int:
    from .imaging.align import align_reference
    from .imaging.io import load_image

    lr = load_image(args.lr).pixels
    hr = load_image(args.hr).pixels
    result = align_reference(lr, hr, scale=args.scale)
    print(result.describe())
    return 0 if result.reliable else 1


def _evaluate(args, progress) -> dict:
    from .comparison.evaluate import evaluate_folder
    from .imaging.capture_maps import CaptureAssumption

    return evaluate_folder(
        hr_dir=args.hr,
        scale=args.scale,
        methods=args.methods,
        degradation=args.degradation,
        capture=args.capture,
        lr_dir=args.lr,
        mask_dir=args.mask_dir,
        limit=args.limit,
        split=args.split,
        device=args.device,
        tile=args.tile,
        precision=args.precision,
        lr_kind=args.lr_kind,
        per_image=args.per_image,
        progress=progress,
        assumption=CaptureAssumption(args.noise, args.blur),
    )


def _report_folder(path: str | None) -> None:
    """Make the folder a ``--json`` report goes to before the work starts: a missing one used to
    end a long evaluation in a traceback with every figure lost."""
    if path:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise ParameterError(f"cannot write --json {path}: {exc.filename} is a file, not a folder") from exc
        except OSError as exc:
            raise ParameterError(f"cannot write --json {path}: {exc.strerror}") from exc


def _cmd_evaluate(args) -> int:
    from .comparison.evaluate import format_table, per_image_csv

    _report_folder(args.json)
    with _Bar("image", "evaluate") as bar:
        report = _evaluate(args, bar)
    print(format_table(report, args))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
        if args.per_image:
            csv_path = Path(args.json).with_suffix(".per_image.csv")
            csv_path.write_text(per_image_csv(report))
            print(f"wrote {csv_path}")
    return 0


def _cmd_assess(args) -> int:
    from .comparison.assess import assess_paths, verdict_label

    _report_folder(args.json)
    report, gathered = assess_paths(args.lr, args.scale, args.methods, lr_kind=args.lr_kind, device=args.device, precision=args.precision)
    for (image, verdicts), seen in zip(report.items(), gathered):
        print(f"{image}: {seen.facts.suggested_kind} capture suggested ({seen.facts.reason}); methods {seen.seconds_methods:.1f} s, "
              f"assess in all {seen.seconds:.1f} s")
        for method, row in verdicts.items():
            print(f"  {method:<14}{verdict_label(row):<36}{row['reason']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _cmd_train(args) -> int:
    from .train import TRAINERS

    trainer = TRAINERS[args.method]
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(trainer.config_cls) if hasattr(args, f.name)}
    config = trainer.config_cls(**values)
    with _Bar("step") as bar:
        result = trainer.run(config, resume=args.resume, progress=bar.training)
    print(f"finished {result.steps} steps in {result.wall_seconds:.0f} s; weights and card in {result.out_dir}")
    return 0


def _cmd_resume(args) -> int:
    from .train import resume_run

    changes = {name: getattr(args, name) for name in ("steps", "threads", "device") if getattr(args, name) is not None}
    with _Bar("step") as bar:
        result = resume_run(args.run, changes, progress=bar.training)
    print(f"finished {result.steps} steps in {result.wall_seconds:.0f} s; weights and card in {result.out_dir}")
    return 0


def _cmd_publish(args) -> int:
    from .models.bf16_gate import fp16_storage_fields, record_bf16
    from .models.precision import has_native_bf16
    from .models.serving import card_kind, check_unambiguous
    from .models.weights import FLOAT16, FLOAT32, model_card, per_scale, publish, restore, storage_of, update_card, weights_dir

    fields = {key: value for key, value in (("lr_kind", args.lr_kind), ("role", args.role)) if value is not None}
    if fields.get("role") == "none":
        fields["role"] = None  # update_card removes it
    check = lambda cards: check_unambiguous(cards, "shipped")  # noqa: E731
    if args.recheck:
        if args.run or args.name or args.metrics:
            raise ParameterError("publish --recheck NAME re-measures a published card: it takes no run folder, --name or --metrics")
        name = args.recheck
        if args.fp16 and storage_of(model_card(name)) != FLOAT16:
            card = restore(name, FLOAT16, fp16_storage_fields, fields=fields, check=check)
        else:  # a float16 file keeps the change measured when it was rounded: its float32 weights are gone
            card = update_card(name, fields, check=check)
    else:
        if not args.run or not args.name:
            raise ParameterError("publish needs a run folder and --name (or --recheck NAME)")
        metrics = {}
        for item in args.metrics or []:
            title, _, path = item.partition("=")
            if not path:
                raise ParameterError(f"--metrics expects TITLE=FILE.json, got '{item}'")
            metrics[title] = json.loads(Path(path).read_text())
        name = args.name
        card = publish(Path(args.run), name, metrics=metrics, fields={k: v for k, v in fields.items() if v is not None}, check=check,
                       storage=FLOAT16 if args.fp16 else FLOAT32, gate=fp16_storage_fields)
    if "bf16_delta_db" in card and not has_native_bf16():
        # Where bf16 is emulated (and OpenVINO runs it as fp32, a change of 0) a re-measure would
        # replace the card's decision with one of another arithmetic; auto runs bf16 only on
        # native-bf16 CPUs and on CUDA.
        bf16 = f"{per_scale(card['bf16_delta_db'])} (kept: this CPU has no native bf16, re-measure on one that has)"
    else:
        card = record_bf16(card["method"], name, weights_dir())  # on the weights as stored: they are what runs
        bf16 = "; ".join(f"{backend} {per_scale(deltas)}" for backend, deltas in card["bf16_delta_db_by_backend"].items())
    stored = f"float16 (rounding: {per_scale(card['fp16_storage_delta_db'])})" if storage_of(card) == FLOAT16 else FLOAT32
    print(f"{'rechecked' if args.recheck else 'published'} {name}: {card['file']} sha256 {card['sha256'][:12]}…, "
          f"{card_kind(card)} LR{', ' + card['role'] if 'role' in card else ''}; stored as {stored}; bf16 vs fp32: {bf16}")
    return 0


def _cmd_models_add(args) -> int:
    from .models.imports import add_model
    from .models.weights import per_scale

    card = add_model(args.file, args.name, args.scale, args.replace)
    measured = per_scale(card.get("bf16_delta_db", {}))
    print(f"imported {args.file} as method import@{args.name}: {card['summary']}; sha256 {card['sha256'][:12]}…; "
          f"bf16 vs fp32: {measured or 'not measured (the architecture does not run bf16): fp32'}")
    return 0


def _cmd_models_list(args) -> int:
    from .models.imports import list_models
    from .models.serving import bf16_backends, native_scale

    cards = list_models()
    if not cards:
        print("no imported models (add one: python -m microsr_core models add FILE --name NAME)")
    for name, card in sorted(cards.items()):
        precision = "bf16 auto" if bf16_backends(card, native_scale(card)) else "fp32 auto"
        print(f"import@{name}: {card['summary']}; sha256 {card['sha256'][:12]}…; {precision}")
    return 0


def _cmd_models_remove(args) -> int:
    from .models.imports import remove_model

    card = remove_model(args.name)
    print(f"removed import@{args.name} ({card['source_file']}, sha256 {card['sha256'][:12]}…)")
    return 0


def _cmd_cells(args) -> int:
    from .imaging.cells import save_cells

    boxes = save_cells(args.image, args.outdir, pad=args.pad)
    print(f"{args.image}: {len(boxes)} cells written to {args.outdir} (boxes in cells.json)")
    return 0


def _cmd_export_bioimageio(args) -> int:
    from .models.bioimageio_export import export_bioimageio

    result = export_bioimageio(args.name, args.out)
    print(f"{result.path}: bioimage.io package of {args.name} ({result.size_bytes / 1e6:.1f} MB); "
          f"bioimageio.core test_model passed in {result.test_seconds:.0f} s")
    return 0


def _add_assess_parser(sub) -> None:
    from .models.choices import DEVICE_CHOICES, PRECISION_CHOICES
    from .models.serving import DEFAULT_KIND, LR_KINDS

    p = sub.add_parser("assess", help="without an HR reference: did each method help each image? (a verdict, an expected gain "
                       "over bicubic in dB with an 80%% interval, and the evidence; calibrated on the val split)")
    p.add_argument("--lr", required=True, help="an LR image or a folder of them")
    p.add_argument("--scale", type=int, required=True)
    p.add_argument("--methods", type=_name_list, required=True)
    p.add_argument("--lr-kind", default=DEFAULT_KIND, choices=LR_KINDS, help=LR_KIND_HELP)
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES, help=PRECISION_HELP)
    p.add_argument("--json", default=None, help="write {file name: {method: {verdict, expected_gain_db, interval_db, reason, evidence}}}")
    p.set_defaults(func=_cmd_assess)


def _cmd_upscale_batch(args) -> int:
    from .scale_out.batch import batch_inputs, run_batch
    from .scale_out.cluster import open_client

    batch_inputs(args.source)  # a bad folder costs no cluster start (a method is checked by the first worker: it has torch)
    with open_client(args.workers, args.threads, args.scheduler, slurm=_slurm_jobs(args)) as client:
        with _Bar("image") as bar:
            result = run_batch(client, args.source, args.methods, args.scale, args.out, hr_dir=args.hr, lr_kind=args.lr_kind,
                               precision=args.precision, resume=args.resume, progress=bar)
    for record in result.records:
        if record.status == "failed":
            print(f"failed: {record.image} ({record.method}): {record.error}", file=sys.stderr)
    if args.hr:
        csv_path = Path(args.out) / "per_image.csv"
        csv_path.write_text(result.per_image_csv())
        print(f"wrote {csv_path}")
    print(f"{args.out}: {result.count('done')} made, {result.count('skipped')} already done, {result.count('failed')} failed "
          f"({len(result.records)} = images x {len(args.methods)} method(s))")
    return 1 if result.count("failed") else 0


def _cmd_upscale_large(args) -> int:
    from .scale_out.cluster import open_client
    from .scale_out.large import upscale_large
    from .scale_out.sources import open_large

    open_large(args.source, args.level)  # a bad source costs no cluster start (a method is checked by the first worker: it has torch)
    with open_client(args.workers, args.threads, args.scheduler, slurm=_slurm_jobs(args)) as client:
        with _Bar("chunk") as bar:
            result = upscale_large(client, args.source, args.method, args.scale, args.out, block=args.block, level=args.level,
                                   lr_kind=args.lr_kind, precision=args.precision, resume=args.resume,
                                   skip_background=not args.keep_background, tile=args.tile, progress=bar)
    print(f"{result.out}: {result.source} x{args.scale} by {args.method}; {result.blocks} blocks: {result.computed} computed, "
          f"{result.background} background (bicubic), {result.skipped} already done; {result.levels} level(s) in {result.seconds:.1f} s")
    return 0


def _add_cluster_flags(p: argparse.ArgumentParser) -> None:
    from .models.choices import PRECISION_CHOICES
    from .scale_out.slurm import SlurmJobs

    p.add_argument("--workers", type=int, default=2, help="worker processes of the local Dask cluster (with --slurm: of each job)")
    p.add_argument("--threads", type=int, default=1, help="threads per worker (torch uses as many)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on this existing Dask cluster instead")
    p.add_argument("--slurm", action="store_true", help="submit the workers as SLURM jobs (dask-jobqueue; "
                   "pip install 'microsr[slurm]'), each of --workers processes x --threads threads")
    p.add_argument("--slurm-jobs", type=int, default=None, metavar="N", help=f"SLURM jobs to submit (default {SlurmJobs.jobs})")
    p.add_argument("--slurm-queue", default=None, metavar="PARTITION", help="the partition (default: the site's)")
    p.add_argument("--slurm-account", default=None, help="the account charged (default: yours)")
    p.add_argument("--slurm-memory", default=None, metavar="SIZE", help=f"memory of each job (default {SlurmJobs.memory})")
    p.add_argument("--slurm-walltime", default=None, metavar="HH:MM:SS", help=f"time limit of each job (default {SlurmJobs.walltime})")
    p.add_argument("--slurm-wait", type=float, default=None, metavar="SECONDS",
                   help=f"how long to wait for the first worker to join (default {SlurmJobs.wait:g})")
    p.add_argument("--resume", action="store_true", help="skip what an earlier (also a killed) run finished")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES, help=PRECISION_HELP)


def _slurm_jobs(args):
    """The :class:`~microsr_core.scale_out.slurm.SlurmJobs` of ``--slurm`` and its ``--slurm-*``
    flags (those not given keep their defaults), or None without ``--slurm``."""
    from .scale_out.slurm import SlurmJobs

    given = {field.name: getattr(args, f"slurm_{field.name}") for field in dataclasses.fields(SlurmJobs)}
    given = {name: value for name, value in given.items() if value is not None}
    if not args.slurm:
        if given:
            raise ParameterError(f"--slurm-{next(iter(given))} needs --slurm")
        return None
    return SlurmJobs(**given)


def _add_scale_out_parsers(sub) -> None:
    """``upscale-batch`` and ``upscale-large`` (:mod:`microsr_core.scale_out`)."""
    from .models.serving import DEFAULT_KIND, LR_KINDS

    p = sub.add_parser("upscale-batch", help="every image of a folder or ZIP x every method, on Dask")
    p.add_argument("source", help="a folder of images or a .zip of them")
    p.add_argument("--methods", type=_name_list, required=True)
    p.add_argument("--scale", type=int, required=True)
    p.add_argument("--out", required=True, help="output folder (<stem>.<method>.x<scale>.png)")
    p.add_argument("--hr", default=None, help="HR references with the inputs' names: writes OUT/per_image.csv")
    p.add_argument("--lr-kind", default=DEFAULT_KIND, choices=LR_KINDS, help=LR_KIND_HELP)
    _add_cluster_flags(p)
    p.set_defaults(func=_cmd_upscale_batch)

    p = sub.add_parser("upscale-large", help="one image larger than memory, block by block on Dask, into OME-Zarr")
    p.add_argument("source", help="OME-Zarr folder, OME-TIFF/SVS/TIFF file, or a PNG/JPEG")
    p.add_argument("--method", required=True)
    p.add_argument("--scale", type=int, required=True)
    p.add_argument("--out", required=True, help="the OME-Zarr to write (OUT.ome.zarr)")
    p.add_argument("--block", type=int, default=1024, help="LR block side; output chunks are block x scale")
    p.add_argument("--level", type=int, default=0, help="pyramid level of the source")
    p.add_argument("--keep-background", action="store_true", help="run the method on slide background too")
    p.add_argument("--tile", type=int, default=None, help="LR tile side inside each block (default: automatic); smaller bounds a worker's memory")
    p.add_argument("--lr-kind", default=DEFAULT_KIND, choices=LR_KINDS, help=LR_KIND_HELP)
    _add_cluster_flags(p)
    p.set_defaults(func=_cmd_upscale_large)


def _add_upscale_parser(sub) -> None:
    from .models.choices import AUTO_KIND, DEVICE_CHOICES, PRECISION_CHOICES
    from .models.serving import DEFAULT_KIND, LR_KINDS

    p = sub.add_parser("upscale", help="super-resolve one image")
    p.add_argument("input")
    p.add_argument("output", help=".png or .tif (lossless; 16-bit when the input was)")
    p.add_argument("--method", default="bicubic")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--tile", type=int, default=None, help="LR tile size in pixels (default: automatic)")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES, help=PRECISION_HELP)
    p.add_argument("--lr-kind", default=DEFAULT_KIND, choices=(*LR_KINDS, AUTO_KIND),
                   help=LR_KIND_HELP + "; auto: the kind the image's no-reference facts suggest (what ran is printed)")
    _add_capture_flags(p)
    p.set_defaults(func=_cmd_upscale)


def _add_capture_flags(p: argparse.ArgumentParser) -> None:
    """``--noise`` and ``--blur``: what weights trained with capture maps assume (microsr_core.imaging.capture_maps)."""
    from .imaging.capture_maps import CHOICES, LEVELS

    for name, unit in (("noise", "grey levels of noise"), ("blur", "detail (1 = a bicubic downscale's)")):
        levels = ", ".join(f"{level} = {value:g}" for level, value in LEVELS[name].items())
        p.add_argument(f"--{name}", default="auto", choices=CHOICES,
                       help=f"for weights trained with capture maps: the capture's {name} (auto: estimated from the image; "
                       f"{levels} {unit}); refused for weights without them")


def _add_evaluate_parser(sub) -> None:
    from .imaging.capture_family import PIPELINES
    from .imaging.data import SPLITS
    from .imaging.degrade import DEGRADATIONS
    from .models.choices import DEVICE_CHOICES, PRECISION_CHOICES
    from .models.serving import DEFAULT_KIND, LR_KINDS

    p = sub.add_parser("evaluate", help="PSNR/SSIM and speed of methods over a folder of HR images")
    p.add_argument("--hr", required=True, help="folder of HR images")
    p.add_argument("--scale", type=int, required=True)
    p.add_argument("--methods", type=_name_list, default=["bicubic"])
    p.add_argument("--degradation", default="bicubic", choices=DEGRADATIONS + tuple(PIPELINES),
                   help="how LR is made from HR: the simple kinds, the training capture family (one seeded draw per image), a held-out test camera pipeline or a validation one (usbcam: for choosing weights on the val split; microsr_core.imaging.capture_family)")
    p.add_argument("--capture", default=None, metavar="KEY=VALUE,...",
                   help="microscope degradation parameters, e.g. na=0.28,full_well=1500,read_noise=8,jpeg_quality=85 (fields of microsr_core.imaging.degrade.MicroscopeCapture)")
    p.add_argument("--lr", default=None, help="folder of real LR images with the HR images' names")
    p.add_argument("--mask-dir", default=None, help="masks (nonzero = cell) with the HR images' names")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--split", default="all", choices=("all", *SPLITS), help="use only one part of the fixed split: test (reports), val (model selection) or train")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--tile", type=int, default=None)
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES, help=PRECISION_HELP)
    p.add_argument("--lr-kind", default=DEFAULT_KIND, choices=LR_KINDS, help=LR_KIND_HELP)
    p.add_argument("--per-image", action="store_true", help="also each image's PSNR/SSIM and gain over bicubic (in the JSON, and as OUT.per_image.csv beside --json OUT)")
    p.add_argument("--json", default=None)
    _add_capture_flags(p)
    p.set_defaults(func=_cmd_evaluate)


def _add_train_parsers(sub) -> None:
    from .models.choices import DEVICE_CHOICES
    from .train import TRAINERS
    from .train.configs import add_config_flags

    p = sub.add_parser("train", help="train a method's network")
    train_sub = p.add_subparsers(dest="method", required=True)
    for name, trainer in TRAINERS.items():
        tp = train_sub.add_parser(name, help=trainer.help)
        tp.add_argument("--data", required=True)
        tp.add_argument("--out", required=True, help="output folder (checkpoint, history, weights, card)")
        tp.add_argument("--resume", default=None, help="checkpoint to continue from")
        add_config_flags(tp, trainer.config_cls, skip=("data", "out"))
        tp.set_defaults(func=_cmd_train)
    tp = train_sub.add_parser("resume", help="continue a run from its folder alone (its checkpoint holds its config)")
    tp.add_argument("run", help="the run's output folder")
    tp.add_argument("--steps", type=int, default=None, help="new total step count (default: the run's)")
    tp.add_argument("--threads", type=int, default=None)
    tp.add_argument("--device", default=None, choices=DEVICE_CHOICES)
    tp.set_defaults(func=_cmd_resume)


def _add_weights_parsers(sub) -> None:
    """``publish`` (shipped weights) and ``models`` (imported ones)."""
    from .models.serving import TOLERANCE_DB
    from .models.serving import ANY_KIND, FALLBACK, LR_KINDS

    p = sub.add_parser("publish", help="copy a finished run's weights into weights/ and update the manifest; "
                       "both measure bf16 against fp32 for the card")
    p.add_argument("run", nargs="?", help="training output folder")
    p.add_argument("--name")
    p.add_argument("--metrics", action="append", help="TITLE=evaluate.json, repeatable")
    p.add_argument("--recheck", metavar="NAME", help="re-measure bf16 of published card NAME (and set --lr-kind/--role) instead; "
                   "a card's measurement is kept on a CPU without native bf16")
    p.add_argument("--lr-kind", choices=(*LR_KINDS, ANY_KIND), help="the LR images the weights are for (default: the card's, else bicubic)")
    p.add_argument("--role", choices=(FALLBACK, "none"), help="fallback: serve only scales no other card serves; none: clear it")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the file) if the rounded weights move "
                   f"Y-PSNR by at most {TOLERANCE_DB} dB on the bf16 check crops; refused, with nothing written, otherwise")
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser("models", help="import SR models trained elsewhere as methods import@NAME (add, list, remove)")
    models = p.add_subparsers(dest="models_command", required=True)
    p = models.add_parser("add", help="import a .safetensors, .pth/.pt/.ckpt (spandrel architectures) or .onnx model")
    p.add_argument("file")
    p.add_argument("--name", required=True, help="the method becomes import@NAME (a-z, 0-9, _ and -, at most 40)")
    p.add_argument("--scale", type=int, default=None, help="the scale you expect; refused if the file's differs")
    p.add_argument("--replace", action="store_true", help="replace an imported model of that name")
    p.set_defaults(func=_cmd_models_add)
    p = models.add_parser("list", help="the imported models")
    p.set_defaults(func=_cmd_models_list)
    p = models.add_parser("remove", help="remove an imported model (its card and file)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_models_remove)


#: Commands whose process is a Dask client only: torch is imported by their workers, never by them
#: (its 0.3 GiB would count against a whole slide's memory bar), so their parser is built alone.
CLIENT_COMMANDS = ("upscale-batch", "upscale-large")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; for a ``command`` of :data:`CLIENT_COMMANDS` only theirs (the
    trainers' and jobs' flags come from their config classes, which import torch)."""
    parser = argparse.ArgumentParser(prog="python -m microsr_core", description="MicroSR: super-resolution for microscope images")
    sub = parser.add_subparsers(dest="command", required=True)
    if command in CLIENT_COMMANDS:
        _add_scale_out_parsers(sub)
        return parser
    _add_upscale_parser(sub)
    _add_scale_out_parsers(sub)

    p = sub.add_parser("align", help="find an HR reference inside an LR image by normalised cross-correlation")
    p.add_argument("lr")
    p.add_argument("hr")
    p.add_argument("--scale", type=float, default=None, help="magnification ratio (estimated when omitted)")
    p.set_defaults(func=_cmd_align)

    _add_evaluate_parser(sub)
    _add_assess_parser(sub)
    _add_train_parsers(sub)
    _add_weights_parsers(sub)

    p = sub.add_parser("cells", help="cut every cell of a field into its own image (MicroGAN section 3.1)")
    p.add_argument("image")
    p.add_argument("outdir")
    p.add_argument("--pad", type=int, default=0, help="context pixels kept around every cell")
    p.set_defaults(func=_cmd_cells)

    p = sub.add_parser("export-bioimageio", help="write a shipped model as a bioimage.io model package (PyTorch state dict "
                       "and TorchScript), refused unless bioimageio.core's test_model passes on it")
    p.add_argument("name", help="weights entry in weights/manifest.json")
    p.add_argument("out", help="the package to write (.zip)")
    p.set_defaults(func=_cmd_export_bioimageio)

    from .jobs.cli import add_jobs_parser

    add_jobs_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MicroSRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
