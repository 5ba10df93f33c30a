import os, sys, tempfile; os.environ["KERAS_BACKEND"]="tensorflow"
import numpy as np
from pathlib import Path
from netparity.spec.serialize import model_from_dict
from netparity.spec.init import init_params
from netparity.backends import get_backend
from netparity.spec.recipe import Recipe
import importlib
specs = {
 "img": {"input_shape":[10,10,2],"layers":[{"type":"Conv2D","filters":3,"padding":"same","activation":"relu"},{"type":"BatchNorm"},{"type":"MaxPool2D"},{"type":"Flatten"},{"type":"Dropout","rate":0.2},{"type":"Dense","units":4}]},
 "seq": {"input_shape":[6],"layers":[{"type":"Embedding","vocab":11,"dim":8},{"type":"Residual","layers":[{"type":"LayerNorm"},{"type":"SelfAttention","heads":2}]},{"type":"LSTM","units":5,"return_sequences":True},{"type":"LastStep"},{"type":"Dense","units":3}]},
}
rng=np.random.default_rng(0)
for name, d in specs.items():
    spec = model_from_dict(d)
    params = init_params(spec, 0)
    params = {k: v + 0.1*rng.normal(size=v.shape) if "moving_var" not in k else v+0.5 for k, v in params.items()}
    x = rng.integers(0,11,(5,6)) if spec.integer_inputs else rng.normal(size=(5,*spec.input_shape))
    ref = get_backend("numpy").build(spec, params, Recipe(), dtype="float64", device="cpu")
    r = ref.forward(ref.stage(x))
    for b in ["keras","torch","tf"]:
        mod = importlib.import_module(f"netparity.backends.{b}.export")
        d = Path(tempfile.mkdtemp())
        p = mod.save(spec, params, d)
        out = mod.predict(p, x)
        print(name, b, np.abs(out-r).max()/np.abs(r).max())
