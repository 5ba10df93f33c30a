import os; os.environ["KERAS_BACKEND"]="tensorflow"
import numpy as np
import keras
from netparity.backends.keras.importer import import_model, predict
from netparity.backends.porting import ImportRefused
from netparity.backends import get_backend
from netparity.spec.recipe import Recipe
keras.utils.set_random_seed(0)
rng=np.random.default_rng(0)
def check(m, x, shape=None):
    imp = import_model(m, shape)
    print([type(l).__name__ for l in imp.spec.layers], imp.input_layout)
    ref = predict(m, x)
    model = get_backend("numpy").build(imp.spec, imp.params, Recipe(), dtype="float64", device="cpu")
    out = model.forward(model.stage(x))
    print("  rel", np.abs(out-ref).max()/np.abs(ref).max())
m = keras.Sequential([keras.Input((12,12,3)), keras.layers.Conv2D(4,3,padding="same",activation="relu"), keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dropout(0.3), keras.layers.Dense(5, activation="softmax")])
m.compile("adam","sparse_categorical_crossentropy"); m.fit(rng.normal(size=(32,12,12,3)), rng.integers(0,5,32), epochs=1, verbose=0)
check(m, rng.normal(size=(4,12,12,3)))
m = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(30, 8), keras.layers.LSTM(16), keras.layers.Dense(3)])
check(m, rng.integers(0,30,(4,7)))
x = keras.Input((6,8))
h = keras.layers.LayerNormalization()(x)
a = keras.layers.MultiHeadAttention(2, 4)(h, h, use_causal_mask=True)
y = keras.layers.Add()([h, a])
y = keras.layers.LSTM(5, return_sequences=True)(y)
y = keras.layers.Dense(2)(y)
check(keras.Model(x, y), rng.normal(size=(4,6,8)))
for bad in [keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="selu")]), keras.Sequential([keras.Input((6,4)), keras.layers.GRU(3)])]:
    try: import_model(bad); print("NOT REFUSED")
    except ImportRefused as e: print("refused:", e)
m.save("/tmp/i13m.keras")
from netparity.backends.keras.importer import load
print(type(load("/tmp/i13m.keras")))
