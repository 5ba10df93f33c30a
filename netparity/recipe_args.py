"""Command-line flags for the training recipe: optimizer and hyper-parameters, l2, the roots
task's polynomial and start, and learning-rate lists for sweeps. Flags become plain values
(harness.overrides.RecipeChanges) here; the harness never sees an argparse Namespace."""

from __future__ import annotations

import argparse

from netparity.harness.overrides import RecipeChanges
from netparity.spec.errors import SpecError, quoted
from netparity.spec.limits import check_number
from netparity.spec.recipe import EPSILON_MODES, OPTIMIZERS

#: flag destination -> Optimizer field (every field a flag can set, lr apart)
HYPER_FLAGS = {
    "momentum": "momentum",
    "nesterov": "nesterov",
    "beta1": "beta1",
    "beta2": "beta2",
    "epsilon": "epsilon",
    "epsilon_mode": "epsilon_mode",
    "rho": "rho",
    "initial_accumulator": "initial_accumulator",
    "centered": "centered",
    "weight_decay": "weight_decay",
    "decoupled_weight_decay": "decoupled_weight_decay",
    "momentum_decay": "momentum_decay",
}


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """The optimizer flags (``--lr`` itself stays with the CLI's other recipe overrides)."""
    g = p.add_argument_group("optimizer (unset flags keep the task's value, or the recipe default)")
    g.add_argument("--optimizer", default=None, help=f"one of {', '.join(OPTIMIZERS)} (default: the task's)")
    g.add_argument("--momentum", type=float, default=None, help="sgd/rmsprop momentum in [0, 1)")
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None, help="sgd Nesterov momentum")
    g.add_argument("--beta1", type=float, default=None, help="adam/adamw/nadam/adamax first-moment decay")
    g.add_argument("--beta2", type=float, default=None, help="adam/adamw/nadam/adamax second-moment decay")
    g.add_argument("--epsilon", type=float, default=None, help="adagrad/rmsprop/adam epsilon")
    modes = sorted({m for ms in EPSILON_MODES.values() for m in ms})
    g.add_argument(
        "--epsilon-mode",
        default=None,
        help=f"where epsilon goes: {', '.join(modes)} (adam: outside|hat, adagrad/rmsprop: outside|inside, "
        "adamax: max|outside)",
    )
    g.add_argument("--rho", type=float, default=None, help="rmsprop (torch's alpha) and adadelta decay")
    g.add_argument("--momentum-decay", type=float, default=None, help="nadam's psi in mu_t = b1*(1 - 0.5*0.96^(t*psi))")
    g.add_argument("--initial-accumulator", type=float, default=None, help="adagrad's starting accumulator")
    g.add_argument("--centered", action=argparse.BooleanOptionalAction, default=None, help="centered rmsprop")
    g.add_argument("--weight-decay", type=float, default=None, help="weight decay on every parameter")
    g.add_argument(
        "--decoupled-weight-decay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="p -= lr*wd*p before the step instead of g += wd*p (always on for adamw)",
    )
    g.add_argument("--l2", type=float, default=None, help="adds l2*sum(w^2) over kernels to the loss")
    g.add_argument(
        "--defaults",
        default="aligned",
        help="aligned (default: every hyper-parameter from the recipe) or native (each framework's own "
        "defaults where the recipe leaves them open; differences are expected and named in defaults.csv)",
    )
    r = p.add_argument_group("task roots")
    r.add_argument("--poly", default=None, help="coefficients A,B,C of A*x^2+B*x+C (default 1,-5,4)")
    r.add_argument("--x0", type=float, default=None, help="starting value of x")


def parse_lrs(text: str | None) -> list[float]:
    """``None`` -> []; ``"0.01"`` -> [0.01]; ``"0.001,0.01,0.1"`` -> a sweep."""
    if text is None:
        return []
    try:
        lrs = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise SpecError(f"--lr expects a number or a comma-separated list of numbers, got {quoted(text)}") from None
    for lr in lrs:
        check_number(lr, "--lr")  # finite: the rule of every float field, spec or command line
    if not lrs or any(not lr > 0 for lr in lrs):
        raise SpecError(f"--lr: each lr must be a positive number, got {quoted(text)}")
    if len(set(lrs)) != len(lrs):
        raise SpecError(f"--lr lists a value twice: {quoted(text)}")
    return lrs


def recipe_changes(args: argparse.Namespace, lr: float | None) -> RecipeChanges:
    """The recipe flags as plain values (``lr``: the one learning rate, None for a sweep)."""
    from netparity.spec.tasks.roots import parse_poly

    return RecipeChanges(
        optimizer=args.optimizer,
        hyper={field: getattr(args, flag) for flag, field in HYPER_FLAGS.items() if getattr(args, flag) is not None},
        lr=lr,
        l2=args.l2,
        poly=parse_poly(args.poly) if args.poly is not None else None,
        x0=args.x0,
        defaults=args.defaults,
    )
