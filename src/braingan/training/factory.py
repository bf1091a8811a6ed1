"""Everything a run trains, built from its config in one place: networks, optimisers, loss, EMA, ADA.

The networks come from the registry through the common contract (models/registry.py); what
this module adds is how the config's knobs map onto it, and what only a training run knows:
the per-rank batch, which a minibatch-std group must divide so that no group mixes real and
generated images (D's batch is [reals, fakes]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from braingan.config import RunConfig
from braingan.devices import memory_of
from braingan.errors import BrainganError
from braingan.models import build_discriminator, build_generator
from braingan.training import fastpath
from braingan.training.augment import AdaptiveP
from braingan.training.distributed import World
from braingan.training.ema import EMA
from braingan.training.losses import GanLoss, get_loss
from braingan.training.step import GanModels

MBSTD_GROUP = 4  # images per minibatch-std group (StyleGAN's default)


@dataclass
class TrainingParts:
    """What the loop updates, and the settings it rebuilds the generator from."""

    models: GanModels  # the networks and their optimizers
    step_models: GanModels  # the same, wrapped for the ranks' gradient all-reduce under torchrun
    loss: GanLoss
    ema: EMA | None
    ada: AdaptiveP | None
    generator_kwargs: dict[str, Any]  # stored in generator.json to rebuild G


def generator_kwargs(config: RunConfig, num_classes: int) -> dict[str, Any]:
    """G's constructor arguments: the contract's shared ones, and the family's options that are on."""
    m = config.model
    kwargs: dict[str, Any] = {"resolution": config.data.resolution, "width": m.g_width,
                              "num_classes": num_classes, "latent_dim": m.latent_dim}
    if m.g_batchnorm:
        kwargs["batch_norm"] = True
    defaults = type(m)()
    if m.g_depth != defaults.g_depth:
        kwargs["depth"] = m.g_depth
    if m.mapping_layers != defaults.mapping_layers:
        kwargs["mapping"] = m.mapping_layers
    return kwargs


def discriminator_kwargs(config: RunConfig, num_classes: int, world: World) -> dict[str, Any]:
    m = config.model
    kwargs: dict[str, Any] = {"resolution": config.data.resolution, "width": m.d_width, "num_classes": num_classes}
    if m.d_mbstd:
        kwargs["mbstd_group"] = math.gcd(MBSTD_GROUP, config.run.batch_size // world.size)
    if config.loss.d_reconstruction:  # a family without decoders refuses the option by name
        kwargs["reconstruct"] = True
    return kwargs


def check_networks(config: RunConfig, world: World) -> None:
    """Raise now, before any data is read, if the loss is unknown, or if the networks cannot be
    built as configured (e.g. a family without class inputs asked to condition) or trained in the
    device's memory: built and run on the meta device, which costs no memory and draws no random
    numbers. A conditional run is checked for two classes."""
    get_loss(config.loss.gan)
    if config.optim.freeze_d_layers and config.run.init is None:
        raise BrainganError("--freeze-d-layers keeps layers of a prior's discriminator: it needs --init PRIOR")
    num_classes = 2 if config.model.conditional else 0
    with torch.device("meta"):
        G = build_generator(config.model.arch, **generator_kwargs(config, num_classes))
        D = build_discriminator(config.model.arch, **discriminator_kwargs(config, num_classes, world))
        freeze_input_layers(D, config.optim.freeze_d_layers)
        need = training_bytes(config, G, D, config.run.batch_size // world.size)
    have = memory_of(world.device)
    if need > have:
        raise BrainganError(f"this run needs at least {need / 2**30:,.1f} GiB to train ({_parameters(G):,} + "
                            f"{_parameters(D):,} parameters, batch {config.run.batch_size}), more than the "
                            f"{have / 2**30:,.1f} GiB of {world.device}; lower --resolution, --g-width, "
                            "--d-width, --latent-dim or --batch-size")


def training_bytes(config: RunConfig, G: nn.Module, D: nn.Module, batch: int) -> int:
    """A lower bound of the memory one training step holds, from networks on the meta device:
    float32 weights, gradients and Adam's two moments of G and D (and the EMA copy of G), the
    activations kept for the backward pass (every layer's output for G on ``batch`` noise vectors
    and D on twice as many images, reals and fakes) and the images of a ``--limit`` draw."""
    weights = 4 * _parameters(G) + 4 * _parameters(D)
    ema = 4 * _parameters(G) if config.ema.decay else 0
    labels = torch.zeros(batch, dtype=torch.int64)
    z = torch.empty(batch, config.model.latent_dim)
    size = config.data.resolution
    images = 4 * config.data.limit * size * size if config.data.limit else 0
    return (4 * weights + ema + images
            + 4 * _outputs(G, z, labels) + 4 * _outputs(D, torch.empty(2 * batch, 1, size, size), labels.repeat(2)))


def _parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _outputs(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Values output by the layers (modules without children) of ``module`` on ``inputs``."""
    count = [0]

    def add(layer: nn.Module, args: object, output: object) -> None:
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        count[0] += sum(t.numel() for t in outputs if isinstance(t, torch.Tensor))

    hooks = [m.register_forward_hook(add) for m in module.modules() if not any(m.children())]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return count[0]


def freeze_input_layers(D: nn.Module, k: int) -> None:
    """Keep D's first ``k`` layers from the input side fixed: no gradients, not in D's optimizer
    (and so not all-reduced under torchrun)."""
    if not k:
        return
    layers = D.input_layers()
    if k >= len(layers):
        raise BrainganError(f"--freeze-d-layers {k}: this discriminator has {len(layers)} layers from the input "
                            f"side; freeze at most {len(layers) - 1} so that one learns")
    for layer in layers[:k]:
        layer.requires_grad_(False)


def build_training(config: RunConfig, num_classes: int, world: World, capturable: bool = False) -> TrainingParts:
    """Seeded from ``run.seed``: G's weights are drawn first, then D's, as the seed notebook did.

    ``num_classes`` 0 builds unconditional networks. ``capturable``: the optimizers keep their
    step counts on the device, so that a CUDA graph can replay their updates (training/graphs.py)."""
    run, optim = config.run, config.optim
    torch.manual_seed(run.seed)
    fastpath.tune_backend(world.device, run.fast)
    g_kwargs = generator_kwargs(config, num_classes)
    G = fastpath.prepare_module(build_generator(config.model.arch, **g_kwargs).to(world.device), run.fast)
    D = build_discriminator(config.model.arch, **discriminator_kwargs(config, num_classes, world)).to(world.device)
    D = fastpath.prepare_module(D, run.fast)
    freeze_input_layers(D, optim.freeze_d_layers)
    adam = {"lr": optim.lr, "betas": (optim.beta1, optim.beta2), "eps": optim.eps, "capturable": capturable}
    models = GanModels(G, D, fastpath.adam(G.parameters(), run.fast, **adam),
                       fastpath.adam([p for p in D.parameters() if p.requires_grad], run.fast, **adam))
    a = config.augment
    return TrainingParts(
        models=models,
        step_models=GanModels(world.wrap(G), world.wrap(D), models.opt_g, models.opt_d),
        loss=get_loss(config.loss.gan, config.loss.d_reconstruction),
        ema=EMA(G, config.ema.decay) if config.ema.decay else None,
        ada=(AdaptiveP(a.p, a.ada_target, a.ada_every, a.ada_images, run.batch_size, mean_over_ranks=world.mean)
             if a.mode == "ada" else None),
        generator_kwargs=g_kwargs,
    )
