"""Task `regression`: scikit-learn's bundled diabetes data (no download), MLP, MSE, SGD."""

from __future__ import annotations

from netparity.spec.data import Dataset, standardize
from netparity.spec.layers import Dense
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Optimizer, Recipe
from netparity.spec.tasks import TaskInstance, register


def diabetes(seed: int, test_fraction: float = 0.2) -> Dataset:
    """442 patients, 10 features; seeded split; features and target standardized on train."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed)
    x_tr, x_te = standardize(x_tr, x_te)
    shift, scale = float(y_tr.mean()), float(y_tr.std())
    return Dataset(x_tr, ((y_tr - shift) / scale)[:, None], x_te, ((y_te - shift) / scale)[:, None], shift, scale)


@register("regression", "diabetes progression (sklearn), Dense(64,relu)-Dense(64,relu)-Dense(1), MSE, SGD")
def regression(seed: int) -> TaskInstance:
    data = diabetes(seed)
    model = ModelSpec(
        (data.x_train.shape[1],),
        (Dense(64, "relu"), Dense(64, "relu"), Dense(1)),
    )
    recipe = Recipe(loss="mse", optimizer=Optimizer("sgd", lr=0.01), epochs=20, batch_size=32, shuffle_seed=seed)
    data.check()
    return TaskInstance("regression", model, recipe, data, "regression", ("test_mse", "test_mape"))
